//! Events: the live stream (SSE) and the partners' signed webhooks, on the real server.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::BufRead;
use std::time::Duration as StdDuration;
use tests::{assert_problem, body, TestApp};
use uuid::Uuid;

/// One event of a stream.
#[derive(Debug)]
struct SseEvent {
    id: Option<i64>,
    event: String,
    data: Value,
}

/// Reads a `text/event-stream` answer frame by frame.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    async fn open(app: &TestApp, org: Uuid, token: &str, last_event_id: Option<i64>) -> Sse {
        let mut request = app.request(
            Method::GET,
            &format!("/api/v1/organizations/{org}/events"),
            token,
        );
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped); `None` when the stream ended or `wait` passed.
    async fn next(&mut self, wait: StdDuration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::from("message"), None);
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).expect("data is JSON"));
                    }
                }
                if let Some(data) = data {
                    return Some(SseEvent { id, event, data });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                _ => return None,
            }
        }
    }
}

async fn consume(app: &TestApp, benefit: Uuid, token: &str) -> u16 {
    app.post(
        &format!("/api/v1/benefits/{benefit}/consumptions"),
        token,
        &json!({"quantity": 1}),
    )
    .await
    .status()
    .as_u16()
}

async fn setup(app: &TestApp, quantity: i64) -> (Uuid, Uuid) {
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let benefit = app
        .grant(account, "problem_resolution_phone", Some(quantity))
        .await;
    (org, benefit)
}

#[tokio::test]
async fn a_consumption_reaches_the_stream_and_a_reconnection_resumes_after_its_position() {
    let app = TestApp::spawn().await;
    let (org, benefit) = setup(&app, 10).await;
    let admin = app.admin(org);
    let mut stream = Sse::open(&app, org, &admin, None).await;
    assert_eq!(consume(&app, benefit, &admin).await, 201);
    let event = stream
        .next(StdDuration::from_secs(5))
        .await
        .expect("the consumption arrives");
    assert_eq!(event.event, "benefit.changed");
    assert_eq!(event.data["type"], "benefit.changed");
    assert_eq!(event.data["action"], "benefit_consumed");
    assert_eq!(
        event.data["resource"],
        json!({"kind": "benefit", "id": benefit})
    );
    assert_eq!(event.data["actor"]["role"], "customer_admin");
    let position = event.id.expect("an id");
    assert_eq!(event.data["position"], position);
    assert!(
        position >= 3,
        "the organization, its account and the grant came first"
    );

    // A client that reconnects after the grant gets the consumption again, then nothing
    // more until something happens.
    let mut again = Sse::open(&app, org, &admin, Some(position - 1)).await;
    let replayed = again.next(StdDuration::from_secs(5)).await.unwrap();
    assert_eq!(replayed.id, Some(position));
    assert_eq!(replayed.data["id"], event.data["id"], "the same event");
    assert!(again.next(StdDuration::from_millis(300)).await.is_none());
    // From the start, with ?after=0: every event of the organization in order.
    let r = app
        .request(
            Method::GET,
            &format!("/api/v1/organizations/{org}/events?after=0"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    let mut all = Sse {
        response: r,
        buffer: String::new(),
    };
    let mut positions = Vec::new();
    while let Some(e) = all.next(StdDuration::from_millis(500)).await {
        positions.push(e.id.unwrap());
    }
    assert_eq!(positions, (1..=position).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_event_source_may_pass_its_token_in_the_query_and_bad_requests_are_problems() {
    let app = TestApp::spawn().await;
    let (org, _) = setup(&app, 10).await;
    let other = app.create_org("Fabrikam Customers").await;
    let admin = app.admin(org);
    let r = app
        .client
        .get(format!(
            "{}/api/v1/organizations/{org}/events?access_token={admin}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "EventSource cannot send headers");
    drop(r);
    // Another organization's stream: as if it did not exist.
    assert_problem(
        app.get(&format!("/api/v1/organizations/{other}/events"), &admin)
            .await,
        404,
        "not_found",
    )
    .await;
    let r = app
        .request(
            Method::GET,
            &format!("/api/v1/organizations/{org}/events"),
            &admin,
        )
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "Last-Event-ID");
    // The query token is for streams only.
    let r = app
        .client
        .get(format!(
            "{}/api/v1/organizations/{org}/audit-events?access_token={admin}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_partners_stream_ends_when_its_permission_does() {
    let app = TestApp::spawn().await;
    let (org, benefit) = setup(&app, 10).await;
    let partner = app.create_partner("Fabrikam").await;
    let permission = app.permit(org, partner, Some(&["manage_users"])).await;
    let mut stream = Sse::open(&app, org, &app.partner(partner), None).await;
    assert_eq!(consume(&app, benefit, &app.admin(org)).await, 201);
    let seen = stream.next(StdDuration::from_secs(5)).await.unwrap();
    assert_eq!(seen.event, "benefit.changed");

    let r = app
        .move_permission(permission, &app.admin(org), "removed")
        .await;
    assert_eq!(r.status(), 200);
    // Written after the removal: never sent to the partner.
    assert_eq!(consume(&app, benefit, &app.admin(org)).await, 201);
    // Nothing after the removal is sent: at most the removal itself (when the stream read
    // it before the permission was checked again), then the end.
    let mut next = stream.next(StdDuration::from_secs(5)).await.unwrap();
    if next.event == "permission.changed" {
        assert_eq!(next.data["action"], "permission_removed");
        next = stream.next(StdDuration::from_secs(5)).await.unwrap();
    }
    assert_eq!(next.event, "stream.ended");
    assert_eq!(next.data["reason"], "permission_ended");
    assert!(
        stream.next(StdDuration::from_secs(2)).await.is_none(),
        "the stream is closed"
    );
    // And it cannot be opened again.
    assert_problem(
        app.get(
            &format!("/api/v1/organizations/{org}/events"),
            &app.partner(partner),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn every_consumption_of_a_burst_arrives_once_in_order_of_position() {
    let app = TestApp::spawn().await;
    let (org, benefit) = setup(&app, 1000).await;
    let admin = app.admin(org);
    let mut stream = Sse::open(&app, org, &admin, None).await;
    let mut statuses = Vec::new();
    for wave in 0..20 {
        let requests = (0..50).map(|_| consume(&app, benefit, &admin));
        statuses.extend(futures_util::future::join_all(requests).await);
        assert!(statuses.iter().all(|s| *s == 201), "wave {wave}");
    }
    let mut positions = Vec::new();
    let mut ids = HashSet::new();
    while positions.len() < 1000 {
        let Some(e) = stream.next(StdDuration::from_secs(10)).await else {
            break;
        };
        // On PostgreSQL lines are numbered just after their commit: the setup's lines,
        // committed before the stream opened, may still come first.
        if positions.is_empty() && e.data["action"] != "benefit_consumed" {
            continue;
        }
        assert_eq!(e.data["action"], "benefit_consumed");
        assert!(
            ids.insert(e.data["id"].as_str().unwrap().to_owned()),
            "once"
        );
        positions.push(e.id.unwrap());
    }
    assert_eq!(positions.len(), 1000, "every consumption arrived");
    assert!(
        positions.windows(2).all(|w| w[1] == w[0] + 1),
        "in order of position, none missing"
    );
}

#[tokio::test]
async fn an_event_committed_on_one_server_reaches_a_stream_held_on_another() {
    if !tests::on_postgres() {
        return; // two servers share a database on PostgreSQL only
    }
    let app = TestApp::spawn().await;
    let replica = app.spawn_replica().await;
    let (org, benefit) = setup(&app, 10).await;
    let mut stream = Sse::open(&replica, org, &replica.admin(org), None).await;
    assert_eq!(consume(&app, benefit, &app.admin(org)).await, 201);
    let e = stream.next(StdDuration::from_secs(5)).await.expect("heard");
    assert_eq!(e.data["resource"]["id"], json!(benefit));
}

/// A receiver started by the test: `tests/fixtures/webhook_receiver.py`, which checks the
/// signatures with Python's hmac and fails the first `fails` attempts of each message.
struct Receiver {
    child: std::process::Child,
    url: String,
}

impl Receiver {
    fn start(fails: u32) -> Receiver {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/webhook_receiver.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(fails.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the receiver");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("the receiver's port");
        Receiver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn set_secret(&self, secret: &str) {
        reqwest::Client::new()
            .post(format!("{}/secret", self.url))
            .body(secret.to_owned())
            .send()
            .await
            .unwrap();
    }

    async fn seen(&self) -> Value {
        reqwest::get(format!("{}/received", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn subscribe(app: &TestApp, partner: Uuid, url: &str, types: Value) -> Value {
    let r = app
        .post(
            "/api/v1/partners/me/webhooks",
            &app.partner(partner),
            &json!({"url": url, "event_types": types}),
        )
        .await;
    assert_eq!(r.status(), 201);
    body(r).await
}

/// An organization with a benefit of 10, a partner Fabrikam permitted on it, and that
/// partner's subscription to every event at a receiver failing its first `fails` calls: the
/// organization, the benefit, the partner, the receiver and the subscription as created.
async fn subscribed(app: &TestApp, fails: u32) -> (Uuid, Uuid, Uuid, Receiver, Value) {
    let (org, benefit) = setup(app, 10).await;
    let partner = app.create_partner("Fabrikam").await;
    app.permit(org, partner, Some(&["manage_users"])).await;
    let receiver = Receiver::start(fails);
    let created = subscribe(app, partner, &format!("{}/hook", receiver.url), json!([])).await;
    (org, benefit, partner, receiver, created)
}

/// A commit that writes deliveries wakes this server's delivery worker at once: without the
/// signal the worker looks for due deliveries only once a second. On SQLite the consumption's
/// own transaction writes them (`positions::fan_out`), on PostgreSQL the sequencer does.
#[tokio::test]
async fn a_commit_that_writes_deliveries_wakes_the_delivery_worker() {
    let app = TestApp::spawn().await;
    let (org, benefit, _, _receiver, _) = subscribed(&app, 0).await;
    let mut woken = app.state.db.changes().deliveries();
    woken.borrow_and_update();
    assert_eq!(consume(&app, benefit, &app.admin(org)).await, 201);
    let signalled = tokio::time::timeout(StdDuration::from_secs(5), woken.changed()).await;
    assert!(
        matches!(signalled, Ok(Ok(()))),
        "the consumption's delivery did not wake the worker"
    );
}

/// Moves the clock past the next retries until `done` holds (or 60 rounds).
async fn until(app: &TestApp, mut done: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..60 {
        if done().await {
            return true;
        }
        app.advance(Duration::seconds(30));
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    done().await
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_each_event_once_signed() {
    let app = TestApp::spawn().await;
    let (org, benefit, partner, receiver, created) = subscribed(&app, 3).await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    receiver.set_secret(secret).await;
    let only_vouchers = Receiver::start(0);
    let filtered = subscribe(
        &app,
        partner,
        &format!("{}/hook", only_vouchers.url),
        json!(["voucher.changed"]),
    )
    .await;
    only_vouchers
        .set_secret(filtered["secret"].as_str().unwrap())
        .await;
    for _ in 0..3 {
        assert_eq!(consume(&app, benefit, &app.admin(org)).await, 201);
    }
    let arrived = until(&app, async || {
        receiver.seen().await["received"].as_array().unwrap().len() >= 3
    })
    .await;
    assert!(arrived, "{}", receiver.seen().await);
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    let seen = receiver.seen().await;
    let received = seen["received"].as_array().unwrap();
    assert_eq!(received.len(), 3, "exactly one success per event: {seen}");
    assert!(
        seen["refused"].as_array().unwrap().is_empty(),
        "every signature verified"
    );
    let ids: HashSet<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert!(received
        .iter()
        .all(|r| r["attempt"] == 4 && r["type"] == "benefit.changed"));
    assert!(
        only_vouchers.seen().await["received"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a filtered subscription gets only its types"
    );

    // The history says so, and never shows the secret again.
    let id = created["id"].as_str().unwrap();
    let history = body(
        app.get(
            &format!("/api/v1/partners/me/webhooks/{id}/deliveries"),
            &app.partner(partner),
        )
        .await,
    )
    .await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items
        .iter()
        .all(|d| d["status"] == "delivered" && d["attempts"] == 4 && d["last_status"] == 200));
    let listed = body(
        app.get("/api/v1/partners/me/webhooks", &app.partner(partner))
            .await,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(listed["items"][0].get("secret").is_none());
    // Another partner sees none of it.
    let other = app.create_partner("Northwind").await;
    assert_problem(
        app.get(
            &format!("/api/v1/partners/me/webhooks/{id}/deliveries"),
            &app.partner(other),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_removed_permission_stops_deliveries_and_unsubscribing_stops_everything() {
    let app = TestApp::spawn().await;
    let (org, benefit) = setup(&app, 10).await;
    let partner = app.create_partner("Fabrikam").await;
    let permission = app.permit(org, partner, None).await;
    let receiver = Receiver::start(0);
    let created = subscribe(&app, partner, &receiver.url, json!([])).await;
    receiver
        .set_secret(created["secret"].as_str().unwrap())
        .await;
    assert_eq!(consume(&app, benefit, &app.admin(org)).await, 201);
    assert!(
        until(&app, async || {
            !receiver.seen().await["received"]
                .as_array()
                .unwrap()
                .is_empty()
        })
        .await
    );
    let r = app
        .move_permission(permission, &app.admin(org), "removed")
        .await;
    assert_eq!(r.status(), 200);
    let before = receiver.seen().await["received"].as_array().unwrap().len();
    for _ in 0..2 {
        assert_eq!(consume(&app, benefit, &app.admin(org)).await, 201);
    }
    tokio::time::sleep(StdDuration::from_secs(2)).await;
    let after = receiver.seen().await;
    let received = after["received"].as_array().unwrap();
    // The removal itself is the last event the partner may hear of, never what follows.
    assert!(
        received[before..]
            .iter()
            .all(|r| r["type"] == "permission.changed"),
        "{after}"
    );

    let id = created["id"].as_str().unwrap();
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/partners/me/webhooks/{id}"),
            &app.partner(partner),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let listed = body(
        app.get("/api/v1/partners/me/webhooks", &app.partner(partner))
            .await,
    )
    .await;
    assert!(listed["items"].as_array().unwrap().is_empty());
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/partners/me/webhooks/{id}"),
            &app.partner(partner),
        )
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn addresses_that_are_not_public_are_refused_without_the_flag() {
    let app = TestApp::spawn_configured(|c| c.webhook_allow_private = false).await;
    let partner = app.create_partner("Fabrikam").await;
    let token = app.partner(partner);
    for url in [
        "http://hooks.fabrikam.example/plain-http",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://user:pass@hooks.fabrikam.example/hook",
        "not a url",
    ] {
        let r = app
            .post(
                "/api/v1/partners/me/webhooks",
                &token,
                &json!({"url": url, "event_types": []}),
            )
            .await;
        let problem = assert_problem(r, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "url", "{url}");
    }
    let r = app
        .post(
            "/api/v1/partners/me/webhooks",
            &token,
            &json!({"url": "https://hooks.fabrikam.example/x", "event_types": ["benefit.eaten"]}),
        )
        .await;
    let problem = assert_problem(r, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "event_types");
    let listed = body(app.get("/api/v1/partners/me/webhooks", &token).await).await;
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "nothing was made"
    );
    // Only partners subscribe.
    let org = app.create_org("Contoso").await;
    assert_problem(
        app.post(
            "/api/v1/partners/me/webhooks",
            &app.admin(org),
            &json!({"url": "https://hooks.fabrikam.example/x"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // A public name is accepted.
    let r = app
        .post(
            "/api/v1/partners/me/webhooks",
            &token,
            &json!({"url": "https://hooks.fabrikam.example/x"}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn two_servers_make_each_delivery_once_and_a_stopped_servers_deliveries_are_made() {
    if !tests::on_postgres() {
        return; // two servers share a database on PostgreSQL only
    }
    let first = TestApp::spawn().await;
    let (org, benefit) = setup(&first, 100).await;
    let partner = first.create_partner("Fabrikam").await;
    first.permit(org, partner, None).await;
    // Each message fails once: every event needs a second attempt, by either server.
    let receiver = Receiver::start(1);
    let created = subscribe(&first, partner, &receiver.url, json!(["benefit.changed"])).await;
    receiver
        .set_secret(created["secret"].as_str().unwrap())
        .await;
    let second = first.spawn_replica().await;
    for _ in 0..20 {
        assert_eq!(consume(&first, benefit, &first.admin(org)).await, 201);
    }
    // The first server stops with deliveries in flight or waiting for their retry.
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    drop(first);
    let arrived = until(&second, async || {
        receiver.seen().await["received"].as_array().unwrap().len() >= 20
    })
    .await;
    assert!(arrived, "{}", receiver.seen().await);
    tokio::time::sleep(StdDuration::from_secs(1)).await;
    let seen = receiver.seen().await;
    let received = seen["received"].as_array().unwrap();
    let ids: HashSet<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(received.len(), 20, "once each: {seen}");
    assert_eq!(ids.len(), 20);
}

#[tokio::test]
async fn finished_deliveries_are_forgotten_once_kept_as_long_as_the_events() {
    let app = TestApp::spawn().await;
    let (org, benefit) = setup(&app, 10).await;
    let partner = app.create_partner("Fabrikam").await;
    app.permit(org, partner, None).await;
    let receiver = Receiver::start(0);
    let created = subscribe(&app, partner, &receiver.url, json!(["benefit.changed"])).await;
    receiver
        .set_secret(created["secret"].as_str().unwrap())
        .await;
    assert_eq!(consume(&app, benefit, &app.admin(org)).await, 201);
    let id = created["id"].as_str().unwrap();
    let history = async || {
        body(
            app.get(
                &format!("/api/v1/partners/me/webhooks/{id}/deliveries"),
                &app.partner(partner),
            )
            .await,
        )
        .await["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(
        until(&app, async || history()
            .await
            .first()
            .is_some_and(|d| d["status"] == "delivered"))
        .await
    );
    app.run_maintenance().await;
    assert_eq!(history().await.len(), 1, "kept for 7 days");
    app.advance(Duration::days(8));
    app.run_maintenance().await;
    assert!(history().await.is_empty(), "forgotten after");
}

/// PostgreSQL: holds the event sequencer of `app`'s database back (its advisory lock, taken
/// on a connection of the test's own) until [`release`]: lines commit but wait for their
/// position. `None` on SQLite, where a line is numbered in the transaction that writes it.
async fn hold_sequencer(app: &TestApp) -> Option<tokio_postgres::Client> {
    if tests::backend_name() != "postgres" {
        return None;
    }
    let client = tests::side_channel(&app.config.database_url).await;
    // The sequencer's lock (persistence/src/repositories/events.rs); waits for a run under way.
    client
        .execute("SELECT pg_advisory_lock(7347291)", &[])
        .await
        .unwrap();
    Some(client)
}

/// Lets the sequencer go on, after a pause that leaves a request waiting for it time to
/// show that it does not wait.
async fn release(held: Option<tokio_postgres::Client>) {
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    if let Some(client) = held {
        client
            .execute("SELECT pg_advisory_unlock(7347291)", &[])
            .await
            .unwrap();
    }
}

/// A subscription gets the events committed after it, and a partner whose permission is
/// approved gets the organization's events from then on: never one committed before, even
/// when it was not numbered yet (the sequencer numbers lines after their commit and writes
/// their deliveries as it does, so both first number what waits).
#[tokio::test]
async fn no_event_committed_before_a_subscription_or_an_approval_reaches_it() {
    let app = TestApp::spawn().await;
    let (org, benefit) = setup(&app, 10).await;
    let admin = app.admin(org);

    // A subscription made while a consumption waits for its position.
    let partner = app.create_partner("Fabrikam").await;
    app.permit(org, partner, None).await;
    let receiver = Receiver::start(0);
    let held = hold_sequencer(&app).await;
    assert_eq!(consume(&app, benefit, &admin).await, 201);
    let (created, ()) = tokio::join!(
        subscribe(&app, partner, &receiver.url, json!([])),
        release(held)
    );
    receiver
        .set_secret(created["secret"].as_str().unwrap())
        .await;
    assert_eq!(consume(&app, benefit, &admin).await, 201);

    // An approval given while a consumption waits for its position, to a partner that
    // subscribed before it asked.
    let other = app.create_partner("Northwind").await;
    let other_receiver = Receiver::start(0);
    let other_hook = subscribe(&app, other, &other_receiver.url, json!([])).await;
    other_receiver
        .set_secret(other_hook["secret"].as_str().unwrap())
        .await;
    let asked = app.request_permission(org, other, None, None).await;
    let held = hold_sequencer(&app).await;
    assert_eq!(consume(&app, benefit, &admin).await, 201);
    let (approved, ()) = tokio::join!(
        app.move_permission(asked, &admin, "approved"),
        release(held)
    );
    assert_eq!(approved.status(), 200);
    assert_eq!(consume(&app, benefit, &admin).await, 201);

    let consumptions = |seen: &Value| {
        seen["received"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "benefit.changed")
            .count()
    };
    let arrived = until(&app, async || {
        consumptions(&receiver.seen().await) >= 3 && consumptions(&other_receiver.seen().await) >= 1
    })
    .await;
    assert!(
        arrived,
        "{} {}",
        receiver.seen().await,
        other_receiver.seen().await
    );
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    let seen = receiver.seen().await;
    // The three after the subscription (Fabrikam's permission holds throughout, so the one
    // before Northwind's approval too), not the one before it.
    assert_eq!(consumptions(&seen), 3, "{seen}");
    let other_seen = other_receiver.seen().await;
    // The consumption after the approval, not the one before it.
    assert_eq!(consumptions(&other_seen), 1, "{other_seen}");
}
