//! Kept answers of the benefit lists: served again only while exactly current. Every write,
//! every turn of time (a benefit starting, nearing its end or ending, vouchers nearing their
//! end, a partner's permission ending) and, on PostgreSQL, every other server's commit shows
//! in the very next read.

use chrono::{Duration, Utc};
use reqwest::Response;
use serde_json::{json, Value};
use tests::{body, TestApp};
use uuid::Uuid;

async fn list(app: &TestApp, account: Uuid, token: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/accounts/{account}/benefits"), token)
        .await;
    assert_eq!(r.status(), 200);
    body(r).await
}

async fn other_list(app: &TestApp, account: Uuid, token: &str) -> Value {
    let path = format!("/api/v1/accounts/{account}/benefits/other");
    let r = app.get(&path, token).await;
    assert_eq!(r.status(), 200);
    body(r).await
}

fn item<'a>(list: &'a Value, code: &str) -> Option<&'a Value> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|b| b["type"] == code)
}

fn alert_codes(benefit: &Value) -> Vec<String> {
    benefit["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| a["code"].as_str().expect("code").to_owned())
        .collect()
}

async fn consume(app: &TestApp, benefit: Uuid, token: &str, quantity: i64) -> Response {
    app.post(
        &format!("/api/v1/benefits/{benefit}/consumptions"),
        token,
        &json!({ "quantity": quantity }),
    )
    .await
}

/// Lists twice; the second read must come from the kept answer and be identical.
async fn list_kept(app: &TestApp, account: Uuid, token: &str) -> Value {
    let first = list(app, account, token).await;
    let (served, _) = app.kept_answers();
    let again = list(app, account, token).await;
    assert_eq!(
        app.kept_answers().0,
        served + 1,
        "the second read is served"
    );
    assert_eq!(again, first);
    first
}

#[tokio::test]
async fn every_write_shows_in_the_next_read() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "Contoso EA").await;
    let planning = app.grant(account, "planning_services", Some(10)).await;
    let admin = app.admin(org);

    let before = list_kept(&app, account, &admin).await;
    assert_eq!(item(&before, "planning_services").unwrap()["used"], 0);
    assert_eq!(consume(&app, planning, &admin, 3).await.status(), 201);
    let after = list_kept(&app, account, &admin).await;
    assert_eq!(item(&after, "planning_services").unwrap()["used"], 3);

    // A grant, a domain: both show at once.
    app.grant(account, "e_learning", Some(100)).await;
    let granted = list_kept(&app, account, &admin).await;
    let e_learning = item(&granted, "e_learning").expect("the new benefit");
    assert!(alert_codes(e_learning).contains(&"domain_required".to_owned()));
    let r = app
        .post(
            &format!("/api/v1/accounts/{account}/domains"),
            &admin,
            &json!({ "domain": "contoso.com" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let with_domain = list(&app, account, &admin).await;
    assert!(!alert_codes(item(&with_domain, "e_learning").unwrap())
        .contains(&"domain_required".to_owned()));
    // And its removal (PostgreSQL's list reads the count the account carries).
    let kept = list_kept(&app, account, &admin).await;
    let r = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/accounts/{account}/domains/contoso.com"),
            &admin,
        )
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 204);
    let without = list(&app, account, &admin).await;
    assert_ne!(without, kept);
    assert!(
        alert_codes(item(&without, "e_learning").unwrap()).contains(&"domain_required".to_owned())
    );

    // A refused write changes nothing, and the answer stays current.
    let kept = list_kept(&app, account, &admin).await;
    assert_eq!(consume(&app, planning, &admin, 100).await.status(), 422);
    assert_eq!(list(&app, account, &admin).await, kept);

    // Languages and pages are answers of their own.
    let french = |query: String| {
        app.request(
            reqwest::Method::GET,
            &format!("/api/v1/accounts/{account}/benefits?{query}"),
            &admin,
        )
        .header("Accept-Language", "fr")
        .send()
    };
    let first = body(french("limit=1".into()).await.expect("request")).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = body(
        french(format!("limit=1&cursor={cursor}"))
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_ne!(second["items"][0]["id"], first["items"][0]["id"]);
    let planning_fr = [&first, &second]
        .into_iter()
        .find_map(|page| item(page, "planning_services"))
        .expect("on one of the pages");
    assert_eq!(planning_fr["unit_label"], "jours de planification");
}

#[tokio::test]
async fn another_organization_is_never_served_a_kept_answer() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let other = app.create_org("Fabrikam").await;
    let account = app.create_account(org, "Contoso EA").await;
    app.grant(account, "planning_services", Some(10)).await;
    list_kept(&app, account, &app.admin(org)).await;
    let r = app
        .get(
            &format!("/api/v1/accounts/{account}/benefits"),
            &app.admin(other),
        )
        .await;
    assert_eq!(r.status(), 404);
    let partner = app.create_partner("Adatum").await;
    let r = app
        .get(
            &format!("/api/v1/accounts/{account}/benefits"),
            &app.partner(partner),
        )
        .await;
    assert_eq!(r.status(), 404, "no permission");
}

#[tokio::test]
async fn time_turns_what_is_shown_even_without_a_write() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "Contoso EA").await;
    let admin = app.admin(org);
    let expires = (Utc::now() + Duration::days(40)).to_rfc3339();
    let starts = (Utc::now() + Duration::days(5)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/accounts/{account}/benefits"),
            &app.operator(),
            &json!({"type": "planning_services", "quantity": 5, "expires_at": expires, "valid_from": starts}),
        )
        .await;
    assert_eq!(r.status(), 201);

    let waiting = list_kept(&app, account, &admin).await;
    let codes = alert_codes(item(&waiting, "planning_services").unwrap());
    assert_eq!(codes, vec!["not_yet_valid"]);
    // Started: the alert is gone.
    app.advance(Duration::days(6));
    let started = list_kept(&app, account, &admin).await;
    assert!(alert_codes(item(&started, "planning_services").unwrap()).is_empty());
    // Thirty days before the end: expiring soon.
    app.advance(Duration::days(5));
    let ending = list_kept(&app, account, &admin).await;
    assert_eq!(
        alert_codes(item(&ending, "planning_services").unwrap()),
        vec!["expiring_soon"]
    );
    // Ended: it leaves "your benefits" for "other benefits".
    let before_end = other_list(&app, account, &admin).await;
    let other_item = |list: &Value| {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|b| b["code"] == "planning_services")
            .cloned()
    };
    assert!(other_item(&before_end).is_none(), "held and active");
    assert!(other_item(&other_list(&app, account, &admin).await).is_none());
    app.advance(Duration::days(30));
    let ended = list(&app, account, &admin).await;
    assert!(item(&ended, "planning_services").is_none());
    let after_end = other_list(&app, account, &admin).await;
    let expired = other_item(&after_end).expect("listed as expired");
    assert_eq!(expired["expired"], true);
}

#[tokio::test]
async fn vouchers_nearing_their_end_show_without_a_write() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "Contoso EA").await;
    let training = app.grant(account, "training_vouchers", Some(10)).await;
    let admin = app.admin(org);
    let r = app
        .post(
            &format!("/api/v1/benefits/{training}/vouchers"),
            &admin,
            &json!({"holder_email": "marie.dubois@contoso.com", "holder_name": "Marie Dubois",
                    "course": "AZ-104", "days": 3}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let fresh = list_kept(&app, account, &admin).await;
    assert!(alert_codes(item(&fresh, "training_vouchers").unwrap()).is_empty());
    // 180-day vouchers: 151 days later they end within 30 days.
    app.advance(Duration::days(151));
    let near = list_kept(&app, account, &admin).await;
    assert!(alert_codes(item(&near, "training_vouchers").unwrap())
        .contains(&"training_days_expiring".to_owned()));
}

#[tokio::test]
async fn a_partner_is_served_only_while_its_permission_holds() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "Contoso EA").await;
    app.grant(account, "planning_services", Some(10)).await;
    let partner = app.create_partner("Adatum").await;
    let token = app.partner(partner);
    let ends = Utc::now() + Duration::days(2);
    let permission = app
        .request_permission(org, partner, Some(&["manage_domains"]), Some(ends))
        .await;
    let r = app
        .move_permission(permission, &app.admin(org), "approved")
        .await;
    assert_eq!(r.status(), 200);
    list_kept(&app, account, &token).await;
    // The permission's end date passes: no write, yet access ends.
    app.advance(Duration::days(3));
    let r = app
        .get(&format!("/api/v1/accounts/{account}/benefits"), &token)
        .await;
    assert_eq!(r.status(), 404, "expired permission");

    // A removed permission ends access at once too.
    let second = app.create_partner("Litware").await;
    app.permit(org, second, None).await;
    let token = app.partner(second);
    list_kept(&app, account, &token).await;
    let id = body(app.get("/api/v1/partners/me/permissions", &token).await).await["items"][0]["id"]
        .as_str()
        .map(str::to_owned)
        .expect("the permission");
    let r = app
        .move_permission(id.parse().unwrap(), &app.admin(org), "removed")
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .get(&format!("/api/v1/accounts/{account}/benefits"), &token)
        .await;
    assert_eq!(r.status(), 404, "removed permission");
}

#[tokio::test]
async fn concurrent_writes_and_reads_never_leave_a_stale_answer() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "Contoso EA").await;
    let planning = app.grant(account, "planning_services", Some(400)).await;
    let admin = app.admin(org);
    // Readers hammer the list while writers consume; afterwards the list must show them all.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, client, admin) = (app.base.clone(), app.client.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..40 {
                let r = client
                    .get(format!("{base}/api/v1/accounts/{account}/benefits"))
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .expect("read");
                assert_eq!(r.status(), 200);
            }
        }));
    }
    let mut writes = Vec::new();
    for _ in 0..50 {
        let (base, client, admin) = (app.base.clone(), app.client.clone(), admin.clone());
        writes.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/v1/benefits/{planning}/consumptions"))
                .bearer_auth(&admin)
                .json(&json!({ "quantity": 1 }))
                .send()
                .await
                .expect("write")
                .status()
        }));
    }
    for w in writes {
        assert_eq!(w.await.unwrap(), 201);
    }
    // Every consumption has been answered: any read from now on shows all 50.
    for _ in 0..3 {
        let now = list(&app, account, &admin).await;
        assert_eq!(item(&now, "planning_services").unwrap()["used"], 50);
    }
    for t in tasks {
        t.await.unwrap();
    }
    let last = list(&app, account, &admin).await;
    assert_eq!(item(&last, "planning_services").unwrap()["used"], 50);
}

/// PostgreSQL: several servers share the database. A commit on one is seen by the others'
/// next reads once its notification has arrived (it is sent before the writer answers), and a
/// server whose listening connection drops keeps nothing until it listens again.
#[tokio::test]
async fn servers_sharing_a_database_see_each_others_commits() {
    if tests::backend_name() != "postgres" {
        return; // one SQLite file is served by one server
    }
    let a = TestApp::spawn().await;
    let b = a.spawn_replica().await;
    let org = a.create_org("Contoso").await;
    let account = a.create_account(org, "Contoso EA").await;
    let planning = a.grant(account, "planning_services", Some(100)).await;
    let admin = a.admin(org);
    for round in 1..=20 {
        list_kept(&b, account, &admin).await;
        assert_eq!(consume(&a, planning, &admin, 1).await.status(), 201);
        let seen = settle(&b, account, &admin, round).await;
        assert_eq!(seen, round, "B shows A's commit");
    }

    // B's listener is cut off: B keeps nothing until it listens again, and misses nothing.
    // The test's own side channel to the server (not the server under test): plain text.
    let admin_url = std::env::var("TEST_DATABASE_URL").expect("PostgreSQL");
    let admin_url = match admin_url.split_once('?') {
        Some((base, _)) => format!("{base}?sslmode=disable"),
        None => admin_url,
    };
    let (client, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    let db_name = a
        .config
        .database_url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let killed = client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'sa-benefits-listener'",
            &[&db_name],
        )
        .await
        .expect("terminate");
    assert!(killed >= 1, "the listeners were found");
    for round in 21..=30 {
        // Writers do not wait for a listener that is reconnecting.
        let started = std::time::Instant::now();
        assert_eq!(consume(&a, planning, &admin, 1).await.status(), 201);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let seen = settle(&b, account, &admin, round).await;
        assert_eq!(seen, round, "B shows A's commit after losing its listener");
    }
}

/// B's view of the used count, read until it shows `expected` (a notification in flight) for
/// at most two seconds.
async fn settle(b: &TestApp, account: Uuid, admin: &str, expected: i64) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let now = list(b, account, admin).await;
        let used = item(&now, "planning_services").unwrap()["used"]
            .as_i64()
            .unwrap();
        if used == expected || std::time::Instant::now() > deadline {
            return used;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A round of upkeep with nothing due starts no write: kept answers stay kept (every server
/// runs it every minute; a write would make every cached answer stale everywhere).
#[tokio::test]
async fn an_upkeep_round_with_nothing_due_keeps_the_answers() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "Contoso EA").await;
    app.grant(account, "planning_services", Some(10)).await;
    let admin = app.admin(org);
    list_kept(&app, account, &admin).await;
    app.run_maintenance().await;
    let (served, _) = app.kept_answers();
    list(&app, account, &admin).await;
    assert_eq!(
        app.kept_answers().0,
        served + 1,
        "still served after the upkeep"
    );
}

/// Whether the next read of the account's list is served from a kept answer.
async fn served_next(app: &TestApp, account: Uuid, token: &str) -> bool {
    let (served, _) = app.kept_answers();
    list(app, account, token).await;
    app.kept_answers().0 == served + 1
}

#[tokio::test]
async fn a_write_evicts_its_own_organizations_answers_and_never_another_organizations() {
    let app = TestApp::spawn().await;
    let contoso = app.create_org("Contoso").await;
    let emea = app.create_account(contoso, "Contoso EMEA").await;
    let americas = app.create_account(contoso, "Contoso Americas").await;
    let planning = app.grant(emea, "planning_services", Some(100)).await;
    app.grant(americas, "planning_services", Some(100)).await;
    let fabrikam = app.create_org("Fabrikam").await;
    let fabrikam_account = app.create_account(fabrikam, "Fabrikam EA").await;
    let fabrikam_planning = app
        .grant(fabrikam_account, "planning_services", Some(100))
        .await;
    let (admin, other_admin) = (app.admin(contoso), app.admin(fabrikam));

    // Another organization's consumption: Contoso's answers stay kept.
    list_kept(&app, emea, &admin).await;
    list_kept(&app, americas, &admin).await;
    assert_eq!(
        consume(&app, fabrikam_planning, &other_admin, 1)
            .await
            .status(),
        201
    );
    assert!(
        served_next(&app, emea, &admin).await,
        "another organization's write"
    );
    assert!(served_next(&app, americas, &admin).await);
    // A consumption on one account: that account's answer goes, its sibling's stays.
    assert_eq!(consume(&app, planning, &admin, 2).await.status(), 201);
    let fresh = list(&app, emea, &admin).await;
    assert_eq!(
        item(&fresh, "planning_services").unwrap()["used"],
        2,
        "read anew"
    );
    assert!(
        served_next(&app, americas, &admin).await,
        "the other account"
    );
    // A change of the organization (a partner's permission) goes to all its accounts.
    list_kept(&app, emea, &admin).await;
    let partner = app.create_partner("Adatum").await;
    let asked = app.request_permission(contoso, partner, None, None).await;
    assert!(
        !served_next(&app, emea, &admin).await,
        "a permission request"
    );
    assert!(
        !served_next(&app, americas, &admin).await,
        "on every account"
    );
    list_kept(&app, emea, &admin).await;
    list_kept(&app, fabrikam_account, &other_admin).await;
    let r = app.move_permission(asked, &admin, "approved").await;
    assert_eq!(r.status(), 200);
    assert!(
        !served_next(&app, emea, &admin).await,
        "a permission approved"
    );
    assert!(
        served_next(&app, fabrikam_account, &other_admin).await,
        "not Fabrikam's"
    );
    // A type added to the catalog shows among everyone's other benefits.
    let before = other_list(&app, fabrikam_account, &other_admin).await;
    let r = app
        .post(
            "/api/v1/benefit-types",
            &app.operator(),
            &json!({
                "code": "visio_pack", "unit": "downloads",
                "name": {"en": "Visio Pack", "fr": "Pack Visio"},
                "description": {"en": "Visio for diagrams.", "fr": "Visio pour les diagrammes."},
                "learn_more_url": "https://www.microsoft.com/licensing",
                "admin_instructions": {"en": "Record each download.", "fr": "Enregistrez chaque téléchargement."},
                "end_user_instructions": {"en": "Download it.", "fr": "Téléchargez-le."},
                "calculation": {"en": "One per licence.", "fr": "Un par licence."},
                "features": {"has_downloads": true},
                "software": [{"id": "visio-x64", "name": {"en": "Visio (x64)", "fr": "Visio (x64)"},
                              "version": "2026", "language": "multilingual", "size_mb": 3100}]
            }),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", body(r).await);
    let after = other_list(&app, fabrikam_account, &other_admin).await;
    assert!(item(&before, "visio_pack").is_none());
    assert!(
        item(&after, "visio_pack").is_some(),
        "a catalog change evicts everyone"
    );
}

#[tokio::test]
async fn across_servers_a_write_evicts_only_its_organizations_answers() {
    if tests::backend_name() != "postgres" {
        return; // one SQLite file is served by one server
    }
    let a = TestApp::spawn().await;
    let b = a.spawn_replica().await;
    let contoso = a.create_org("Contoso").await;
    let account = a.create_account(contoso, "Contoso EA").await;
    let planning = a.grant(account, "planning_services", Some(100)).await;
    let fabrikam = a.create_org("Fabrikam").await;
    let other = a.create_account(fabrikam, "Fabrikam EA").await;
    let other_planning = a.grant(other, "planning_services", Some(100)).await;
    let (admin, other_admin) = (a.admin(contoso), a.admin(fabrikam));
    for round in 1..=5 {
        list_kept(&b, account, &admin).await;
        // Fabrikam's consumption on A, heard by B: Contoso's answer on B stays kept.
        assert_eq!(
            consume(&a, other_planning, &other_admin, 1).await.status(),
            201
        );
        settle_other(&b, other, &other_admin, round).await;
        assert!(
            served_next(&b, account, &admin).await,
            "round {round}: Fabrikam's write"
        );
        // Contoso's own consumption on A: B reads anew.
        assert_eq!(consume(&a, planning, &admin, 1).await.status(), 201);
        assert_eq!(settle(&b, account, &admin, round).await, round);
    }
}

/// B's view of another organization's used count, read until it shows `expected`.
async fn settle_other(b: &TestApp, account: Uuid, admin: &str, expected: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        let seen = item(&list(b, account, admin).await, "planning_services").unwrap()["used"]
            .as_i64()
            .unwrap();
        if seen == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("B never showed {expected} on the other organization");
}

/// "Your benefits" lists each benefit once, in the catalog's order, and pages through them
/// without a gap or a repeat, whether read fresh every time (kept answers off: on PostgreSQL
/// the workers' own connections, whose statement leaves the order to the server) or kept. A
/// Training Vouchers benefit with several assigned vouchers is read as several lines and
/// still listed once.
#[tokio::test]
async fn each_benefit_is_listed_once_in_catalog_order_page_by_page() {
    for kept in [0, 100] {
        let app = TestApp::spawn_configured(|c| c.kept_answers = kept).await;
        let org = app.create_org("Contoso").await;
        let account = app.create_account(org, "Contoso EA").await;
        let admin = app.admin(org);
        let codes = [
            "e_learning",
            "training_vouchers",
            "planning_services",
            "problem_resolution_phone",
        ];
        let mut granted = Vec::new();
        for code in codes {
            granted.push(app.grant(account, code, Some(20)).await);
        }
        let training = granted[1];
        for days in 1..=3 {
            let voucher = app
                .post(
                    &format!("/api/v1/benefits/{training}/vouchers"),
                    &admin,
                    &json!({"holder_email": "marie.dubois@contoso.com",
                            "holder_name": "Marie Dubois",
                            "course": "AZ-104 Microsoft Azure Administrator", "days": days}),
                )
                .await;
            assert_eq!(voucher.status(), 201, "assign a voucher");
        }
        let catalog = body(app.get("/api/v1/benefit-types?limit=200", &admin).await).await;
        let expected: Vec<String> = catalog["items"]
            .as_array()
            .expect("types")
            .iter()
            .filter_map(|t| t["code"].as_str())
            .filter(|code| codes.contains(code))
            .map(str::to_owned)
            .collect();
        let types_of = |page: &Value| -> Vec<String> {
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|b| b["type"].as_str().expect("type").to_owned())
                .collect()
        };
        for _ in 0..3 {
            let all = list(&app, account, &admin).await;
            assert_eq!(
                types_of(&all),
                expected,
                "kept answers {kept}: one each, in order"
            );
        }
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("limit=1&cursor={c}"),
                None => "limit=1".to_owned(),
            };
            let page = body(
                app.get(
                    &format!("/api/v1/accounts/{account}/benefits?{query}"),
                    &admin,
                )
                .await,
            )
            .await;
            paged.extend(types_of(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(paged, expected, "kept answers {kept}: page by page");
    }
}
