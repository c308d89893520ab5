//! Metering and the ledger: consumptions, adjustments, calculation, history, exports,
//! idempotency, and exactness under concurrent requests.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use tests::{assert_problem, body, TestApp};
use uuid::Uuid;

async fn setup(app: &TestApp, code: &str, quantity: i64) -> (Uuid, Uuid, Uuid) {
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let benefit = app.grant(account, code, Some(quantity)).await;
    (org, account, benefit)
}

async fn consume(app: &TestApp, benefit: Uuid, token: &str, quantity: i64) -> reqwest::Response {
    app.post(
        &format!("/api/v1/benefits/{benefit}/consumptions"),
        token,
        &json!({ "quantity": quantity }),
    )
    .await
}

/// A consumption of `quantity` on `server` under the `Idempotency-Key` `key`.
fn consume_keyed(
    server: &TestApp,
    benefit: Uuid,
    token: &str,
    key: &str,
    quantity: i64,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
    server
        .request(
            Method::POST,
            &format!("/api/v1/benefits/{benefit}/consumptions"),
            token,
        )
        .header("idempotency-key", key)
        .json(&json!({ "quantity": quantity }))
        .send()
}

async fn figures(app: &TestApp, benefit: Uuid) -> (i64, i64, i64) {
    let b: Value = app
        .get(&format!("/api/v1/benefits/{benefit}"), &app.operator())
        .await
        .json()
        .await
        .unwrap();
    (
        b["quantity"].as_i64().unwrap(),
        b["used"].as_i64().unwrap(),
        b["remaining"].as_i64().unwrap(),
    )
}

/// The benefit's consumption entries (up to 200), newest first.
async fn consumptions(app: &TestApp, benefit: Uuid, token: &str) -> Vec<Value> {
    let history: Value = app
        .get(
            &format!("/api/v1/benefits/{benefit}/transactions?kind=consumption&limit=200"),
            token,
        )
        .await
        .json()
        .await
        .unwrap();
    history["items"].as_array().unwrap().clone()
}

/// The ledger invariant, through the API: the calculation view's totals add up to the figures.
async fn assert_ledger_agrees(app: &TestApp, benefit: Uuid) -> Value {
    let calc: Value = app
        .get(
            &format!("/api/v1/benefits/{benefit}/calculation"),
            &app.operator(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(calc["ledger_agrees"], true, "{calc}");
    let totals = calc["totals"].as_array().unwrap();
    let sum = |kinds: &[&str]| -> i64 {
        totals
            .iter()
            .filter(|t| kinds.contains(&t["kind"].as_str().unwrap()))
            .map(|t| t["quantity"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(
        sum(&[
            "grant",
            "adjustment",
            "conversion_in",
            "conversion_out",
            "expiry"
        ]),
        calc["quantity"].as_i64().unwrap()
    );
    assert_eq!(
        sum(&[
            "consumption",
            "release",
            "voucher_assigned",
            "voucher_revoked",
            "voucher_expired"
        ]),
        calc["used"].as_i64().unwrap()
    );
    calc
}

#[tokio::test]
async fn consumptions_use_units_until_none_remain() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_phone", 5).await;
    let admin = app.admin(org);
    let r = app
        .post(
            &format!("/api/v1/benefits/{benefit}/consumptions"),
            &admin,
            &json!({"quantity": 2, "reference": "INC-1", "note": "Exchange outage"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let change: Value = r.json().await.unwrap();
    assert_eq!(
        (
            change["quantity"].as_i64(),
            change["used"].as_i64(),
            change["remaining"].as_i64()
        ),
        (Some(5), Some(2), Some(3))
    );
    assert_eq!(change["transaction"]["kind"], "consumption");
    assert_eq!(change["transaction"]["reference"], "INC-1");
    assert_eq!(change["transaction"]["actor"]["role"], "customer_admin");

    let refused = assert_problem(
        consume(&app, benefit, &admin, 4).await,
        422,
        "not_enough_remaining",
    )
    .await;
    assert_eq!(refused["context"]["remaining"], 3);
    assert!(refused["detail"].as_str().unwrap().contains('3'));
    assert_eq!(
        figures(&app, benefit).await,
        (5, 2, 3),
        "a refusal changes nothing"
    );
    assert_eq!(
        consume(&app, benefit, &app.operator(), 3).await.status(),
        201,
        "operators record consumptions too"
    );
    assert_problem(
        consume(&app, benefit, &admin, 1).await,
        422,
        "not_enough_remaining",
    )
    .await;
    assert_problem(
        consume(&app, benefit, &admin, 0).await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        consume(&app, benefit, &app.admin(Uuid::new_v4()), 1).await,
        404,
        "not_found",
    )
    .await;
    assert_ledger_agrees(&app, benefit).await;
}

#[tokio::test]
async fn unmetered_expired_and_indirect_benefits_refuse_consumption() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let list: Value = app
        .get(
            &format!("/api/v1/accounts/{}/benefits", api::demo::DEMO_ACCOUNT),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let id_of = |code: &str| -> Uuid {
        let item = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == code)
            .unwrap();
        Uuid::parse_str(item["id"].as_str().unwrap()).unwrap()
    };
    assert_problem(
        consume(&app, id_of("dynamics_customersource"), &admin, 1).await,
        422,
        "unmetered_benefit",
    )
    .await;
    let body = assert_problem(
        consume(&app, id_of("e_learning"), &admin, 1).await,
        422,
        "consumed_elsewhere",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("users"));
    let other: Value = app
        .get(
            &format!(
                "/api/v1/accounts/{}/benefits/other",
                api::demo::DEMO_ACCOUNT
            ),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let expired = other["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["expired"] == true)
        .unwrap();
    let expired = Uuid::parse_str(expired["benefit_id"].as_str().unwrap()).unwrap();
    assert_problem(
        consume(&app, expired, &admin, 1).await,
        422,
        "benefit_expired",
    )
    .await;
    let french = app
        .request(
            Method::POST,
            &format!(
                "/api/v1/benefits/{}/consumptions",
                id_of("dynamics_customersource")
            ),
            &admin,
        )
        .header("accept-language", "fr")
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(french, 422, "unmetered_benefit").await;
    assert_eq!(body["title"], "Requête refusée");
}

#[tokio::test]
async fn adjustments_are_operator_only_with_a_reason_and_never_below_used() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "planning_services", 10).await;
    consume(&app, benefit, &app.admin(org), 6).await;
    let path = format!("/api/v1/benefits/{benefit}/adjustments");
    let r = app
        .post(
            &path,
            &app.operator(),
            &json!({"quantity": 5, "reason": "Additional SA purchase"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(figures(&app, benefit).await, (15, 6, 9));
    let body = assert_problem(
        app.post(
            &path,
            &app.operator(),
            &json!({"quantity": -10, "reason": "True-up"}),
        )
        .await,
        422,
        "below_used",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains('6'));
    assert_eq!(
        app.post(
            &path,
            &app.operator(),
            &json!({"quantity": -9, "reason": "True-up"})
        )
        .await
        .status(),
        201
    );
    assert_eq!(figures(&app, benefit).await, (6, 6, 0));
    assert_problem(
        app.post(
            &path,
            &app.operator(),
            &json!({"quantity": 0, "reason": "x"}),
        )
        .await,
        422,
        "zero_adjustment",
    )
    .await;
    assert_problem(
        app.post(
            &path,
            &app.operator(),
            &json!({"quantity": 1, "reason": " "}),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post(&path, &app.operator(), &json!({"quantity": 1}))
            .await,
        400,
        "invalid_body",
    )
    .await;
    assert_problem(
        app.post(
            &path,
            &app.admin(org),
            &json!({"quantity": 1, "reason": "x"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let calc = assert_ledger_agrees(&app, benefit).await;
    let kinds: Vec<&str> = calc["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["grant", "adjustment", "consumption"]);
}

#[tokio::test]
async fn the_calculation_view_shows_inputs_rule_and_totals() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let list: Value = app
        .get(
            &format!("/api/v1/accounts/{}/benefits", api::demo::DEMO_ACCOUNT),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "e_learning")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let calc: Value = app
        .request(
            Method::GET,
            &format!("/api/v1/benefits/{id}/calculation"),
            &admin,
        )
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calc["inputs"][0]["value"], 1250);
    // The operator recorded the label in both languages: the reader gets theirs.
    assert_eq!(
        calc["inputs"][0]["label"],
        "Licences de postes de travail éligibles avec SA"
    );
    assert!(calc["rule"].as_str().unwrap().starts_with("Les places"));
    let labels: Vec<&str> = calc["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind_label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"Attribution"), "{labels:?}");
    assert_eq!(calc["ledger_agrees"], true);
}

#[tokio::test]
async fn the_history_is_paginated_newest_first_and_filtered() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_web", 100).await;
    let admin = app.admin(org);
    for _ in 0..6 {
        assert_eq!(consume(&app, benefit, &admin, 1).await.status(), 201);
    }
    app.post(
        &format!("/api/v1/benefits/{benefit}/adjustments"),
        &app.operator(),
        &json!({"quantity": 3, "reason": "Bonus"}),
    )
    .await;
    let mut seqs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/benefits/{benefit}/transactions?limit=3&cursor={c}"),
            None => format!("/api/v1/benefits/{benefit}/transactions?limit=3"),
        };
        let page: Value = app.get(&path, &admin).await.json().await.unwrap();
        seqs.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["seq"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seqs,
        vec![8, 7, 6, 5, 4, 3, 2, 1],
        "every entry once, newest first"
    );
    let only: Value = app
        .get(
            &format!("/api/v1/benefits/{benefit}/transactions?kind=adjustment,grant"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = only["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["adjustment", "grant"]);
    let future = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let none: Value = app
        .get(
            &format!("/api/v1/benefits/{benefit}/transactions?from={future}"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"], json!([]));
    let all: Value = app
        .get(
            &format!("/api/v1/benefits/{benefit}/transactions?to={future}"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 8);
    assert_problem(
        app.get(
            &format!("/api/v1/benefits/{benefit}/transactions?kind=theft"),
            &admin,
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get(
            &format!("/api/v1/benefits/{benefit}/transactions?from=yesterday"),
            &admin,
        )
        .await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn the_ledger_exports_as_csv_and_xlsx() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_web", 100).await;
    let admin = app.admin(org);
    app.post(
        &format!("/api/v1/benefits/{benefit}/consumptions"),
        &admin,
        &json!({"quantity": 2, "note": "=cmd|' /C calc'!A0, \"quoted\""}),
    )
    .await;
    let r = app
        .get(
            &format!("/api/v1/benefits/{benefit}/transactions/export?format=csv"),
            &admin,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"ledger-{benefit}.csv\"").as_str()
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    // A byte-order mark first, for spreadsheet programs; then the titles.
    assert!(lines[0].starts_with(
        "\u{feff}seq,created_at,kind,kind_label,quantity,entitled_change,used_change"
    ));
    // quantity is the change of what remains; the two changes say which figure moved.
    assert!(
        lines[1].starts_with("1,") && lines[1].contains(",grant,Grant,100,100,0,100,0,100,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(",consumption,Consumption,-2,0,2,100,2,98,"),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].contains("\"'=cmd|' /C calc'!A0, \"\"quoted\"\"\""),
        "formula guarded and quoted: {}",
        lines[2]
    );

    let r = app
        .request(
            Method::GET,
            &format!("/api/v1/benefits/{benefit}/transactions/export?format=csv"),
            &admin,
        )
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    assert!(r
        .text()
        .await
        .unwrap()
        .starts_with("\u{feff}seq,date,type,libellé,quantité"));

    let r = app
        .get(
            &format!("/api/v1/benefits/{benefit}/transactions/export?format=xlsx"),
            &admin,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK", "an XLSX file is a zip archive");
    assert!(bytes.len() > 2_000);
    assert_problem(
        app.get(
            &format!("/api/v1/benefits/{benefit}/transactions/export?format=pdf"),
            &admin,
        )
        .await,
        400,
        "invalid_query",
    )
    .await;
    assert_problem(
        app.get(
            &format!("/api/v1/benefits/{benefit}/transactions/export?format=csv"),
            &app.admin(Uuid::new_v4()),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_same_idempotency_key_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_phone", 10).await;
    let admin = app.admin(org);
    let path = format!("/api/v1/benefits/{benefit}/consumptions");
    let send = |key: &'static str, body: Value| {
        app.request(Method::POST, &path, &admin)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send("order-1", json!({"quantity": 2})).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();
    let again = send("order-1", json!({"quantity": 2})).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first_body, "the same body");
    assert_eq!(figures(&app, benefit).await, (10, 2, 8), "consumed once");

    assert_problem(
        send("order-1", json!({"quantity": 3})).await.unwrap(),
        422,
        "idempotency_key_reused",
    )
    .await;
    let adjust = app
        .request(
            Method::POST,
            &format!("/api/v1/benefits/{benefit}/adjustments"),
            &app.operator(),
        )
        .header("idempotency-key", "order-1")
        .json(&json!({"quantity": 1, "reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(adjust.status(), 201, "keys of another caller never collide");

    // A refusal is replayed too: it changed nothing, and the retry gets the same answer.
    let refused = send("order-2", json!({"quantity": 50})).await.unwrap();
    let refused_body = assert_problem(refused, 422, "not_enough_remaining").await;
    app.post(
        &format!("/api/v1/benefits/{benefit}/adjustments"),
        &app.operator(),
        &json!({"quantity": 100, "reason": "more"}),
    )
    .await;
    let replayed = send("order-2", json!({"quantity": 50})).await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(
        assert_problem(replayed, 422, "not_enough_remaining").await,
        refused_body
    );

    let bad = app
        .request(Method::POST, &path, &admin)
        .header("idempotency-key", "")
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400, "validation_failed").await;
    let long = "k".repeat(256);
    let bad = app
        .request(Method::POST, &path, &admin)
        .header("idempotency-key", long)
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400, "validation_failed").await;
    assert_ledger_agrees(&app, benefit).await;
}

/// A key is remembered for 24 hours (API.md): after that the same key is a new request, even
/// on a benefit whose last change this server kept (on PostgreSQL the key, not looked up,
/// refuses the change's statement, and the work runs again where the old record is replaced).
#[tokio::test]
async fn a_key_is_a_new_request_after_24_hours() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_phone", 10).await;
    let admin = app.admin(org);
    let send = |quantity: i64| consume_keyed(&app, benefit, &admin, "daily", quantity);
    assert_eq!(send(2).await.unwrap().status(), 201);
    app.advance(chrono::Duration::hours(25));
    let again = send(3).await.unwrap();
    assert_eq!(again.status(), 201, "a new request, not a reused key");
    assert!(again.headers().get("idempotent-replayed").is_none());
    let replayed = send(3).await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(figures(&app, benefit).await, (10, 5, 5));
    assert_ledger_agrees(&app, benefit).await;
}

#[tokio::test]
async fn concurrent_retries_with_one_key_spend_once() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_phone", 100).await;
    let admin = app.admin(org);
    let requests = (0..16).map(|_| consume_keyed(&app, benefit, &admin, "same-key", 3));
    let statuses: Vec<u16> = join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201));
    assert_eq!(
        figures(&app, benefit).await,
        (100, 3, 97),
        "spent exactly once: {statuses:?}"
    );
    assert_ledger_agrees(&app, benefit).await;
}

#[tokio::test]
async fn sixty_four_concurrent_consumptions_never_overdraw() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_phone", 40).await;
    let admin = app.admin(org);
    let requests = (0..64).map(|i| consume_keyed(&app, benefit, &admin, &format!("race-{i}"), 1));
    let statuses: Vec<u16> = join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 422).count();
    assert_eq!((ok, refused), (40, 24), "{statuses:?}");
    assert_eq!(figures(&app, benefit).await, (40, 40, 0));
    assert_eq!(
        consumptions(&app, benefit, &admin).await.len(),
        40,
        "one ledger row per success"
    );
    assert_ledger_agrees(&app, benefit).await;
}

/// Each answer of a race is its own ledger entry: the id, the position and the figures after
/// it that the ledger holds. (On PostgreSQL a change is decided on the version it read and
/// written only at that version; one that lost the race runs again.) Each replays the same.
#[tokio::test]
async fn each_answer_of_a_race_is_its_own_ledger_entry() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_phone", 1000).await;
    let admin = app.admin(org);
    let send = |i: usize| {
        let quantity = 1 + (i % 3) as i64;
        consume_keyed(&app, benefit, &admin, &format!("answer-{i}"), quantity)
    };
    let mut answers = Vec::new();
    for response in join_all((0..32).map(send)).await {
        let response = response.unwrap();
        assert_eq!(response.status(), 201);
        answers.push(response.text().await.unwrap());
    }
    let entries = consumptions(&app, benefit, &admin).await;
    assert_eq!(entries.len(), 32);
    let mut seqs = Vec::new();
    for text in &answers {
        let answer: Value = serde_json::from_str(text).unwrap();
        let told = &answer["transaction"];
        let held = entries
            .iter()
            .find(|e| e["id"] == told["id"])
            .unwrap_or_else(|| panic!("no ledger entry {}", told["id"]));
        for field in ["seq", "quantity_after", "used_after", "used_change"] {
            assert_eq!(held[field], told[field], "{field} of {told}");
        }
        assert_eq!(answer["used"], held["used_after"]);
        seqs.push(told["seq"].as_i64().unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (2..=33).collect::<Vec<_>>(),
        "one position each, after the grant"
    );
    let mut by_seq: Vec<&Value> = entries.iter().collect();
    by_seq.sort_by_key(|e| e["seq"].as_i64());
    for pair in by_seq.windows(2) {
        assert_eq!(
            pair[1]["used_after"].as_i64().unwrap(),
            pair[0]["used_after"].as_i64().unwrap() + pair[1]["used_change"].as_i64().unwrap(),
            "each entry follows the one before"
        );
    }
    for (i, text) in answers.iter().enumerate() {
        let again = send(i).await.unwrap();
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(&again.text().await.unwrap(), text);
    }
    assert_ledger_agrees(&app, benefit).await;
}

/// One key used on two benefits at once: one of them is consumed, once; the other request
/// is told the key was used for another request, never served. On PostgreSQL both requests
/// are held at their write (the test locks the key table) until each has read the key as
/// unused, so both write it and one must lose: its work then runs again and finds the key.
#[tokio::test]
async fn one_key_raced_on_two_benefits_spends_once() {
    let app = TestApp::spawn().await;
    let (org, account, first) = setup(&app, "problem_resolution_phone", 100).await;
    let second = app
        .grant(account, "problem_resolution_web", Some(100))
        .await;
    let admin = app.admin(org);
    let held = match tests::on_postgres() {
        true => {
            let client = tests::side_channel(&app.config.database_url).await;
            client
                .batch_execute("BEGIN; LOCK TABLE idempotency_keys IN SHARE MODE")
                .await
                .unwrap();
            Some(client)
        }
        false => None,
    };
    let mut requests = Vec::new();
    for (n, benefit) in [first, second].into_iter().enumerate() {
        requests.push(tokio::spawn(consume_keyed(
            &app, benefit, &admin, "shared", 1,
        )));
        if let Some(client) = &held {
            // This request has read the key and waits to write it.
            let waiting = || async {
                client
                    .query_one(
                        // (A statement prepared for the first time waits while its text is
                        // analysed, before pg_stat_activity shows it: count the waits alone.)
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE datname = current_database() AND wait_event = 'relation'",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get::<_, i64>(0)
            };
            let mut tries = 0;
            while waiting().await < n as i64 + 1 {
                tries += 1;
                assert!(tries < 500, "request {n} never reached its write");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    if let Some(client) = held {
        client.batch_execute("COMMIT").await.unwrap();
    }
    let mut answers = Vec::new();
    for request in requests {
        let response = request.await.unwrap().unwrap();
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    answers.sort();
    assert_eq!(answers[0].0, 201, "{answers:?}");
    assert_eq!(answers[1].0, 422, "{answers:?}");
    assert!(
        answers[1].1.contains("idempotency_key_reused"),
        "{answers:?}"
    );
    let used = figures(&app, first).await.1 + figures(&app, second).await.1;
    assert_eq!(used, 1, "spent once over both");
    assert_ledger_agrees(&app, first).await;
    assert_ledger_agrees(&app, second).await;
}

/// A server decides a ledger change on the benefit as its last change left it, without
/// reading it (PostgreSQL). Another server moves the benefit meanwhile: a change that would
/// be refused on what was kept, and one that would fit on it but no longer fits, are both
/// decided on the benefit as it is.
#[tokio::test]
async fn a_change_decided_on_a_benefit_moved_by_another_server_is_decided_again() {
    if !tests::on_postgres() {
        return; // two servers share a database on PostgreSQL only
    }
    let app = TestApp::spawn().await;
    let replica = app.spawn_replica().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_phone", 10).await;
    let admin = app.admin(org);
    assert_eq!(consume(&app, benefit, &admin, 10).await.status(), 201);
    // Nothing remains as this server last left it; the other adds 5.
    let added = replica
        .post(
            &format!("/api/v1/benefits/{benefit}/adjustments"),
            &replica.operator(),
            &json!({"quantity": 5, "reason": "true-up"}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let keyed = |server: &TestApp| consume_keyed(server, benefit, &admin, "after-true-up", 3);
    let fits = keyed(&app).await.unwrap();
    assert_eq!(fits.status(), 201, "not refused on what was kept");
    let fits = fits.text().await.unwrap();
    let replayed = keyed(&replica).await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.text().await.unwrap(), fits);
    assert_eq!(consume(&app, benefit, &admin, 1).await.status(), 201);
    // One remains as this server left it; the other uses it.
    assert_eq!(consume(&replica, benefit, &admin, 1).await.status(), 201);
    assert_problem(
        consume(&app, benefit, &admin, 1).await,
        422,
        "not_enough_remaining",
    )
    .await;
    assert_eq!(figures(&app, benefit).await, (15, 15, 0));
    assert_ledger_agrees(&app, benefit).await;
}

#[tokio::test]
async fn a_partner_with_manage_users_consumes_on_behalf_of_the_organization() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let list: Value = app
        .get(
            &format!("/api/v1/accounts/{}/benefits", api::demo::DEMO_ACCOUNT),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "problem_resolution_phone")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = Uuid::parse_str(&id).unwrap();
    let partner = app.partner(api::demo::DEMO_PARTNER.as_uuid());
    let r = consume(&app, id, &partner, 1).await;
    assert_eq!(r.status(), 201);
    let change: Value = r.json().await.unwrap();
    assert_eq!(change["transaction"]["actor"]["role"], "partner");
    assert_eq!(
        change["transaction"]["actor"]["partner_id"],
        api::demo::DEMO_PARTNER.to_string()
    );
    assert_problem(
        consume(
            &app,
            id,
            &app.partner(api::demo::PENDING_PARTNER.as_uuid()),
            1,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let adjust = app
        .post(
            &format!("/api/v1/benefits/{id}/adjustments"),
            &partner,
            &json!({"quantity": 1, "reason": "x"}),
        )
        .await;
    assert_problem(adjust, 403, "forbidden").await;
}

#[tokio::test]
async fn grants_are_idempotent_too() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let expires = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let body = json!({"type": "e_learning", "quantity": 10, "expires_at": expires});
    let send = || {
        app.request(
            Method::POST,
            &format!("/api/v1/accounts/{account}/benefits"),
            &app.operator(),
        )
        .header("idempotency-key", "grant-1")
        .json(&body)
        .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].clone();
    let first_body: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(
        again.status(),
        201,
        "replayed, not a 409 for a second grant"
    );
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.json::<Value>().await.unwrap(), first_body);
}

/// The invariant read while writes go on: figures and totals come from one snapshot.
#[tokio::test]
async fn the_calculation_agrees_while_consumptions_run() {
    let app = TestApp::spawn().await;
    let (org, _, benefit) = setup(&app, "problem_resolution_phone", 10_000).await;
    let admin = app.admin(org);
    let writes = join_all((0..48).map(|_| consume(&app, benefit, &admin, 1)));
    let reads = async {
        let mut checked = 0;
        for _ in 0..24 {
            let calc: Value = app
                .get(&format!("/api/v1/benefits/{benefit}/calculation"), &admin)
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(calc["ledger_agrees"], true, "{calc}");
            checked += 1;
        }
        checked
    };
    let (written, checked) = tokio::join!(writes, reads);
    assert!(written.iter().all(|r| r.status() == 201));
    assert_eq!(checked, 24);
    assert_ledger_agrees(&app, benefit).await;
}

/// For every metered benefit of the demo, whatever happened to it, the ledger's `quantity`
/// column sums to what remains and its two changes sum to the quantity and to what is used.
#[tokio::test]
async fn the_ledger_columns_sum_to_the_figures() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    // Something of every kind a request can make.
    let phone = api::demo::DEMO_BENEFIT;
    assert_eq!(
        consume(&app, phone.as_uuid(), &admin, 2).await.status(),
        201
    );
    app.post(
        &format!("/api/v1/benefits/{phone}/adjustments"),
        &app.operator(),
        &json!({"quantity": -3, "reason": "true-up"}),
    )
    .await;
    let list = body(
        app.get(
            &format!("/api/v1/accounts/{}/benefits", api::demo::DEMO_ACCOUNT),
            &admin,
        )
        .await,
    )
    .await;
    let mut checked = 0;
    for b in list["items"].as_array().unwrap() {
        let Some(remaining) = b["remaining"].as_i64() else {
            continue; // unmetered
        };
        let id = b["id"].as_str().unwrap();
        let (mut total, mut entitled, mut used, mut cursor) = (0, 0, 0, None::<String>);
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/benefits/{id}/transactions?limit=200&cursor={c}"),
                None => format!("/api/v1/benefits/{id}/transactions?limit=200"),
            };
            let page = body(app.get(&path, &admin).await).await;
            for t in page["items"].as_array().unwrap() {
                total += t["quantity"].as_i64().unwrap();
                entitled += t["entitled_change"].as_i64().unwrap();
                used += t["used_change"].as_i64().unwrap();
                assert_eq!(
                    t["quantity"].as_i64().unwrap(),
                    t["entitled_change"].as_i64().unwrap() - t["used_change"].as_i64().unwrap()
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(total, remaining, "{}", b["type"]);
        assert_eq!(entitled, b["quantity"].as_i64().unwrap(), "{}", b["type"]);
        assert_eq!(used, b["used"].as_i64().unwrap(), "{}", b["type"]);
        checked += 1;
    }
    assert!(checked >= 6, "{checked} metered benefits");
}
