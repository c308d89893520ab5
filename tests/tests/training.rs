//! Training vouchers and the Training Vouchers ⇄ Planning Services conversion, end to end:
//! the state machine, expiry by time and its sweeper, the quote's maximum, reverse limits,
//! and concurrency that never overdraws.

use chrono::Duration;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use tests::{assert_problem, body, ledger_agrees, TestApp};
use uuid::Uuid;

async fn figures(app: &TestApp, benefit: Uuid) -> (i64, i64, i64) {
    let b = body(
        app.get(&format!("/api/v1/benefits/{benefit}"), &app.operator())
            .await,
    )
    .await;
    (
        b["quantity"].as_i64().unwrap(),
        b["used"].as_i64().unwrap(),
        b["remaining"].as_i64().unwrap(),
    )
}

fn voucher(days: i64) -> Value {
    json!({"holder_email": "marie.dubois@contoso.com", "holder_name": "Marie Dubois",
           "course": "AZ-104 Microsoft Azure Administrator", "days": days})
}

async fn assign(app: &TestApp, benefit: Uuid, token: &str, days: i64) -> reqwest::Response {
    app.post(
        &format!("/api/v1/benefits/{benefit}/vouchers"),
        token,
        &voucher(days),
    )
    .await
}

#[tokio::test]
async fn vouchers_use_days_and_move_only_from_assigned() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let training = app.grant(account, "training_vouchers", Some(10)).await;
    let support = app
        .grant(account, "problem_resolution_phone", Some(10))
        .await;
    let admin = app.admin(org);

    let r = assign(&app, training, &admin, 4).await;
    assert_eq!(r.status(), 201);
    let v = body(r).await;
    assert_eq!(v["status"], "assigned");
    assert_eq!(v["days"], 4);
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(figures(&app, training).await, (10, 4, 6));

    // More than remains, invalid input, the wrong benefit, the wrong role.
    assign(&app, training, &admin, 5).await; // 5 of 6: fine
    let problem = assert_problem(
        assign(&app, training, &admin, 2).await,
        422,
        "not_enough_remaining",
    )
    .await;
    assert_eq!(problem["context"]["remaining"], 1);
    assert_problem(
        assign(&app, training, &admin, 6).await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        assign(&app, training, &admin, 0).await,
        400,
        "validation_failed",
    )
    .await;
    let bad = app
        .post(
            &format!("/api/v1/benefits/{training}/vouchers"),
            &admin,
            &json!({"holder_email": "not-an-email", "holder_name": "", "course": "X", "days": 1}),
        )
        .await;
    let problem = assert_problem(bad, 400, "validation_failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    assert_problem(
        assign(&app, support, &admin, 1).await,
        422,
        "not_a_voucher_benefit",
    )
    .await;
    assert_problem(
        assign(&app, training, &app.operator(), 1).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(figures(&app, training).await, (10, 9, 1));

    // Revoke: the days come back once.
    let revoke = format!("/api/v1/vouchers/{id}/revoke");
    let r = app.post(&revoke, &admin, &json!(null)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["status"], "revoked");
    assert_eq!(figures(&app, training).await, (10, 5, 5));
    let problem = assert_problem(
        app.post(&revoke, &admin, &json!(null)).await,
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(problem["context"]["allowed"], json!([]));
    let redeem = format!("/api/v1/vouchers/{id}/redeem");
    assert_problem(
        app.post(&redeem, &admin, &json!(null)).await,
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(figures(&app, training).await, (10, 5, 5));

    // Redeem (operators too): the days stay used.
    let list = body(
        app.get(&format!("/api/v1/benefits/{training}/vouchers"), &admin)
            .await,
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let other = items.iter().find(|v| v["status"] == "assigned").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &format!("/api/v1/vouchers/{other}/redeem"),
            &app.operator(),
            &json!(null),
        )
        .await;
    assert_eq!(body(r).await["status"], "redeemed");
    assert_eq!(figures(&app, training).await, (10, 5, 5));
    assert_problem(
        app.post(
            &format!("/api/v1/vouchers/{other}/revoke"),
            &admin,
            &json!(null),
        )
        .await,
        409,
        "invalid_transition",
    )
    .await;
    // Another organization does not see the voucher.
    let stranger = app.admin(app.create_org("Fabrikam").await);
    assert_problem(
        app.post(&revoke, &stranger, &json!(null)).await,
        404,
        "not_found",
    )
    .await;
    ledger_agrees(&app, training).await;

    // The holder was e-mailed on assignment and revocation.
    let outbox = body(
        app.get(
            &format!("/api/v1/organizations/{org}/notifications"),
            &admin,
        )
        .await,
    )
    .await;
    let mut templates: Vec<&str> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["recipient"] == "marie.dubois@contoso.com")
        .map(|n| n["template"].as_str().unwrap())
        .collect();
    templates.sort_unstable();
    assert_eq!(
        templates,
        vec!["voucher_assigned", "voucher_assigned", "voucher_revoked"]
    );
}

#[tokio::test]
async fn vouchers_expire_after_180_days_and_the_sweeper_returns_the_days() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let training = app.grant(account, "training_vouchers", Some(10)).await;
    let admin = app.admin(org);
    let v = body(assign(&app, training, &admin, 3).await).await;
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(figures(&app, training).await, (10, 3, 7));

    app.advance(Duration::days(181));
    // Reads as expired at once, before any sweep; nothing moves from there.
    let list = body(
        app.get(&format!("/api/v1/benefits/{training}/vouchers"), &admin)
            .await,
    )
    .await;
    assert_eq!(list["items"][0]["status"], "expired");
    assert!(list["items"][0]["days_returned"].is_null());
    assert_problem(
        app.post(
            &format!("/api/v1/vouchers/{id}/redeem"),
            &admin,
            &json!(null),
        )
        .await,
        409,
        "invalid_transition",
    )
    .await;
    // The sweeper records it: the days come back through the ledger, once.
    app.run_maintenance().await;
    app.run_maintenance().await;
    assert_eq!(figures(&app, training).await, (10, 0, 10));
    let list = body(
        app.get(&format!("/api/v1/benefits/{training}/vouchers"), &admin)
            .await,
    )
    .await;
    assert_eq!(list["items"][0]["days_returned"], true);
    let history = body(
        app.get(
            &format!("/api/v1/benefits/{training}/transactions?kind=voucher_expired"),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
    // The days come back: 3 more remain, 3 fewer are used.
    assert_eq!(history["items"][0]["quantity"], 3);
    assert_eq!(history["items"][0]["used_change"], -3);
    assert_eq!(history["items"][0]["entitled_change"], 0);
    ledger_agrees(&app, training).await;
}

#[tokio::test]
async fn days_of_vouchers_expiring_after_their_benefit_are_lost() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let expires = (chrono::Utc::now() + Duration::days(100)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/accounts/{account}/benefits"),
            &app.operator(),
            &json!({"type": "training_vouchers", "quantity": 10, "expires_at": expires}),
        )
        .await;
    let training = tests::id_of(r).await;
    let admin = app.admin(org);
    assert_eq!(assign(&app, training, &admin, 4).await.status(), 201);
    app.advance(Duration::days(181));
    app.run_maintenance().await;
    app.run_maintenance().await;
    // The benefit's expiry lapses the 6 days left (one `expiry` row, remaining 0); the
    // voucher's 4 days stay used: they are lost with the benefit, not given back.
    assert_eq!(figures(&app, training).await, (4, 4, 0));
    let history = body(
        app.get(
            &format!("/api/v1/benefits/{training}/transactions?kind=expiry"),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
    assert_eq!(history["items"][0]["quantity"], -6);
    assert_eq!(history["items"][0]["entitled_change"], -6);
    assert_eq!(history["items"][0]["used_change"], 0);
    let list = body(
        app.get(&format!("/api/v1/benefits/{training}/vouchers"), &admin)
            .await,
    )
    .await;
    assert_eq!(list["items"][0]["status"], "expired");
    assert_eq!(list["items"][0]["days_returned"], false);
    ledger_agrees(&app, training).await;
}

async fn quote(app: &TestApp, account: Uuid, token: &str, query: &str) -> reqwest::Response {
    app.get(
        &format!("/api/v1/accounts/{account}/conversions/quote?{query}"),
        token,
    )
    .await
}

async fn convert(
    app: &TestApp,
    account: Uuid,
    token: &str,
    direction: &str,
    n: i64,
) -> reqwest::Response {
    app.post(
        &format!("/api/v1/accounts/{account}/conversions"),
        token,
        &json!({"direction": direction, "planning_days": n}),
    )
    .await
}

#[tokio::test]
async fn the_quote_maximum_is_the_real_maximum_and_reverse_only_undoes() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let admin = app.admin(org);
    let training = app.grant(account, "training_vouchers", Some(20)).await;

    // Without Planning Services: 422.
    assert_problem(
        convert(&app, account, &admin, "forward", 1).await,
        422,
        "conversion_unavailable",
    )
    .await;
    assert_problem(
        quote(&app, account, &admin, "direction=forward").await,
        422,
        "conversion_unavailable",
    )
    .await;
    let planning = app.grant(account, "planning_services", Some(2)).await;

    let q = body(quote(&app, account, &admin, "direction=forward&planning_days=2").await).await;
    assert_eq!(
        (
            q["max_planning_days"].as_i64(),
            q["training_days"].as_i64(),
            q["training_days_after"].as_i64(),
            q["planning_days_after"].as_i64()
        ),
        (Some(6), Some(6), Some(14), Some(4))
    );
    let max = q["max_planning_days"].as_i64().unwrap();
    let problem = assert_problem(
        convert(&app, account, &admin, "forward", max + 1).await,
        422,
        "above_conversion_maximum",
    )
    .await;
    assert_eq!(problem["context"]["max_planning_days"], max);
    assert_problem(
        quote(&app, account, &admin, &format!("planning_days={}", max + 1)).await,
        422,
        "above_conversion_maximum",
    )
    .await;
    assert_problem(
        quote(&app, account, &admin, "direction=sideways").await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        convert(&app, account, &admin, "forward", 0).await,
        400,
        "validation_failed",
    )
    .await;
    // Nothing converted yet: nothing to convert back.
    let problem = assert_problem(
        convert(&app, account, &admin, "reverse", 1).await,
        422,
        "above_conversion_maximum",
    )
    .await;
    assert_eq!(problem["context"]["max_planning_days"], 0);

    let r = convert(&app, account, &admin, "forward", max).await;
    assert_eq!(r.status(), 201);
    let c = body(r).await;
    assert_eq!(
        (
            c["direction"].as_str(),
            c["planning_days"].as_i64(),
            c["training_days"].as_i64()
        ),
        (Some("forward"), Some(6), Some(18))
    );
    assert_eq!(figures(&app, training).await, (2, 0, 2));
    assert_eq!(figures(&app, planning).await, (8, 0, 8));
    assert_eq!(
        body(quote(&app, account, &admin, "").await).await["max_planning_days"],
        0
    );

    // Reverse: never more than converted, nor more than remain.
    assert_eq!(
        body(quote(&app, account, &admin, "direction=reverse").await).await["max_planning_days"],
        6
    );
    let schedule = app
        .post(
            &format!("/api/v1/benefits/{planning}/consumptions"),
            &admin,
            &json!({"quantity": 5}),
        )
        .await;
    assert_eq!(schedule.status(), 201);
    assert_eq!(
        body(quote(&app, account, &admin, "direction=reverse").await).await["max_planning_days"],
        3
    );
    assert_problem(
        convert(&app, account, &admin, "reverse", 4).await,
        422,
        "above_conversion_maximum",
    )
    .await;
    assert_eq!(
        convert(&app, account, &admin, "reverse", 2).await.status(),
        201
    );
    assert_eq!(figures(&app, training).await, (8, 0, 8));
    assert_eq!(figures(&app, planning).await, (6, 5, 1));
    // Converted 6, reversed 2: 4 could come back, but only 1 planning day remains.
    assert_eq!(
        body(quote(&app, account, &admin, "direction=reverse").await).await["max_planning_days"],
        1
    );

    // History with the ledger rows linked to each conversion.
    let history = body(
        app.get(&format!("/api/v1/accounts/{account}/conversions"), &admin)
            .await,
    )
    .await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["direction"], "reverse");
    let reference = format!("conversion:{}", items[0]["id"].as_str().unwrap());
    for benefit in [training, planning] {
        let ledger = body(
            app.get(&format!("/api/v1/benefits/{benefit}/transactions"), &admin)
                .await,
        )
        .await;
        assert!(ledger["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["reference"] == reference.as_str()));
        ledger_agrees(&app, benefit).await;
    }
    // Partners convert only with convert_benefits; operators never.
    assert_problem(
        convert(&app, account, &app.operator(), "forward", 1).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn concurrent_conversions_and_vouchers_never_overdraw() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let admin = app.admin(org);
    let training = app.grant(account, "training_vouchers", Some(30)).await;
    let planning = app.grant(account, "planning_services", Some(1)).await;
    // 24 forward conversions of 1 planning day (3 training days each) and 24 vouchers of
    // 1 day race for 30 training days.
    let path = format!("/api/v1/accounts/{account}/conversions");
    let forward = json!({"direction": "forward", "planning_days": 1});
    let conversions = (0..24).map(|_| app.post(&path, &admin, &forward));
    let vouchers = (0..24).map(|_| assign(&app, training, &admin, 1));
    let (c, v) = tokio::join!(join_all(conversions), join_all(vouchers));
    let ok = |rs: &[reqwest::Response]| rs.iter().filter(|r| r.status() == 201).count() as i64;
    for r in c.iter().chain(v.iter()) {
        assert!(matches!(r.status().as_u16(), 201 | 422), "{}", r.status());
    }
    let (converted, assigned) = (ok(&c), ok(&v));
    let (quantity, used, remaining) = figures(&app, training).await;
    assert_eq!(quantity, 30 - 3 * converted);
    assert_eq!(used, assigned);
    assert!(
        remaining < 3 || converted + assigned == 48,
        "left {remaining} unused with refusals"
    );
    assert_eq!(figures(&app, planning).await.0, 1 + converted);
    // Concurrent reverses never give back more than was converted.
    let reverse = json!({"direction": "reverse", "planning_days": 1});
    let reverses = (0..(converted + 8)).map(|_| app.post(&path, &admin, &reverse));
    let reversed = ok(&join_all(reverses).await);
    assert_eq!(reversed, converted);
    assert_eq!(figures(&app, planning).await.0, 1);
    ledger_agrees(&app, training).await;
    ledger_agrees(&app, planning).await;
}

#[tokio::test]
async fn the_demo_has_vouchers_and_a_conversion() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let account = api::demo::DEMO_ACCOUNT;
    let history = body(
        app.get(&format!("/api/v1/accounts/{account}/conversions"), &admin)
            .await,
    )
    .await;
    // Newest first: one planning day given back two days ago, after two converted.
    let moves: Vec<(&str, i64)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["direction"].as_str().unwrap(),
                c["planning_days"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(moves, vec![("reverse", 1), ("forward", 2)]);
    let benefits = body(
        app.get(&format!("/api/v1/accounts/{account}/benefits"), &admin)
            .await,
    )
    .await;
    let training = benefits["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "training_vouchers")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let vouchers = body(
        app.get(&format!("/api/v1/benefits/{training}/vouchers"), &admin)
            .await,
    )
    .await;
    let mut states: Vec<&str> = vouchers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    states.sort_unstable();
    assert_eq!(
        states,
        vec!["assigned", "assigned", "expired", "redeemed", "revoked"]
    );
    ledger_agrees(&app, Uuid::parse_str(&training).unwrap()).await;
    // The demo's changes are in its audit log.
    let audit = body(
        app.get(
            &format!(
                "/api/v1/organizations/{}/audit-events?limit=200",
                api::demo::DEMO_ORG
            ),
            &admin,
        )
        .await,
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "voucher_assigned",
        "voucher_revoked",
        "conversion_made",
        "user_added",
        "benefit_consumed",
        "benefit_adjusted",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    // A partner with the demo's approved permission converts on the organization's behalf.
    let partner = app.partner(api::demo::DEMO_PARTNER.as_uuid());
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/accounts/{account}/conversions"),
            &partner,
        )
        .json(&json!({"direction": "forward", "planning_days": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        body(r).await["actor"]["partner_id"],
        api::demo::DEMO_PARTNER.to_string()
    );
}

#[tokio::test]
async fn vouchers_about_to_expire_raise_an_alert() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let training = app.grant(account, "training_vouchers", Some(10)).await;
    let admin = app.admin(org);
    assert_eq!(assign(&app, training, &admin, 3).await.status(), 201);
    assert!(!alerts(&app, training, &admin)
        .await
        .iter()
        .any(|(c, _)| c == "training_days_expiring"));
    // 160 days later the voucher expires within 30 days.
    app.advance(Duration::days(160));
    let now = alerts(&app, training, &admin).await;
    let alert = now
        .iter()
        .find(|(c, _)| c == "training_days_expiring")
        .expect("the alert");
    assert!(alert.1.starts_with("3 training days"), "{alert:?}");
    let list = body(
        app.get(&format!("/api/v1/accounts/{account}/benefits"), &admin)
            .await,
    )
    .await;
    assert!(list["items"][0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["code"] == "training_days_expiring"));
    // Once it has expired the alert is gone.
    app.advance(Duration::days(25));
    assert!(!alerts(&app, training, &admin)
        .await
        .iter()
        .any(|(c, _)| c == "training_days_expiring"));
}

async fn alerts(app: &TestApp, benefit: Uuid, token: &str) -> Vec<(String, String)> {
    body(app.get(&format!("/api/v1/benefits/{benefit}"), token).await).await["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["code"].as_str().unwrap().to_owned(),
                a["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Statuses read in the reader's language: a voucher's, a benefit's.
#[tokio::test]
async fn statuses_have_labels_in_the_readers_language() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let french = |path: String| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.request(Method::GET, &path, &admin)
                .header("accept-language", "fr")
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let vouchers = french(format!(
        "/api/v1/benefits/{}/vouchers",
        api::demo::DEMO_TRAINING_BENEFIT
    ))
    .await;
    let labels: Vec<&str> = vouchers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status_label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"Utilisé") && labels.contains(&"Attribué"),
        "{labels:?}"
    );
    let benefits = french(format!(
        "/api/v1/accounts/{}/benefits",
        api::demo::DEMO_ACCOUNT
    ))
    .await;
    assert!(benefits["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["status_label"] == "Actif"));
}
