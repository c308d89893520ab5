//! Granting benefits and reading them the way the portal does.

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use tests::{assert_problem, TestApp};
use uuid::Uuid;

async fn setup(app: &TestApp) -> (Uuid, Uuid) {
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    (org, account)
}

#[tokio::test]
async fn a_grant_becomes_one_of_your_benefits_with_its_figures() {
    let app = TestApp::spawn().await;
    let (org, account) = setup(&app).await;
    let expires = (Utc::now() + Duration::days(200)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/accounts/{account}/benefits"),
            &app.operator(),
            &json!({"type": "e_learning", "quantity": 250, "expires_at": expires,
                    "calculation_inputs": [{"label": {"en": "Qualifying desktop licences", "fr": "Postes de travail éligibles"}, "value": 1250}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let granted: Value = r.json().await.unwrap();
    assert_eq!(granted["type"], "e_learning");
    assert_eq!(
        (
            granted["quantity"].as_i64(),
            granted["used"].as_i64(),
            granted["remaining"].as_i64()
        ),
        (Some(250), Some(0), Some(250))
    );
    assert_eq!(granted["unit"], "participants");
    assert_eq!(granted["status"], "active");
    assert_eq!(granted["identification"]["sa_id"], "SA-1");
    let alerts: Vec<&str> = granted["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        alerts,
        vec!["domain_required"],
        "e-learning needs an authorized domain first"
    );

    let id = granted["id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/benefits/{id}"), &app.admin(org))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    let details: Value = r.json().await.unwrap();
    assert!(details["admin_instructions"]
        .as_str()
        .unwrap()
        .contains("domain"));
    assert!(!details["end_user_instructions"]
        .as_str()
        .unwrap()
        .is_empty());
    assert!(!details["calculation_rule"].as_str().unwrap().is_empty());
    assert_eq!(details["eligible_domains"], json!([]));

    let list: Value = app
        .get(
            &format!("/api/v1/accounts/{account}/benefits"),
            &app.admin(org),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], granted["id"]);
    let other: Value = app
        .get(
            &format!("/api/v1/accounts/{account}/benefits/other"),
            &app.admin(org),
        )
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = other["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 9);
    assert!(!codes.contains(&"e_learning"));
}

#[tokio::test]
async fn unmetered_benefits_have_no_quantity() {
    let app = TestApp::spawn().await;
    let (org, account) = setup(&app).await;
    let id = app.grant(account, "dynamics_customersource", None).await;
    let details: Value = app
        .get(&format!("/api/v1/benefits/{id}"), &app.admin(org))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            details["quantity"].clone(),
            details["used"].clone(),
            details["remaining"].clone()
        ),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(details["unit"], "unmetered");
    let expires = (Utc::now() + Duration::days(10)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/accounts/{account}/benefits"),
            &app.operator(),
            &json!({"type": "dynamics_customersource", "quantity": 3, "expires_at": expires}),
        )
        .await;
    let body = assert_problem(r, 422, "unmetered_benefit").await;
    assert_eq!(body["context"]["field"], "quantity");
}

#[tokio::test]
async fn bad_grants_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (org, account) = setup(&app).await;
    let path = format!("/api/v1/accounts/{account}/benefits");
    let future = (Utc::now() + Duration::days(10)).to_rfc3339();
    let past = (Utc::now() - Duration::days(1)).to_rfc3339();
    let cases = [
        (
            json!({"type": "no_such_type", "quantity": 1, "expires_at": future}),
            422,
            "unknown_benefit_type",
        ),
        (
            json!({"type": "e_learning", "expires_at": future}),
            422,
            "quantity_required",
        ),
        (
            json!({"type": "e_learning", "quantity": -1, "expires_at": future}),
            400,
            "validation_failed",
        ),
        (
            json!({"type": "e_learning", "quantity": 1_000_000_001i64, "expires_at": future}),
            400,
            "validation_failed",
        ),
        (
            json!({"type": "e_learning", "quantity": 5, "expires_at": past}),
            422,
            "invalid_period",
        ),
        (
            json!({"type": "e_learning", "quantity": 5, "valid_from": future, "expires_at": future}),
            422,
            "invalid_period",
        ),
        (
            json!({"type": "e_learning", "quantity": 5, "expires_at": "tomorrow"}),
            400,
            "invalid_body",
        ),
        (
            json!({"type": "e_learning", "quantity": 5, "expires_at": future, "calculation_inputs": [{"label": {"en": "Seats", "fr": ""}, "value": 1}]}),
            400,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        assert_problem(app.post(&path, &app.operator(), &body).await, status, code).await;
    }
    assert_problem(
        app.post(
            &path,
            &app.admin(org),
            &json!({"type": "e_learning", "quantity": 5, "expires_at": future}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/api/v1/accounts/{}/benefits", Uuid::new_v4()),
            &app.operator(),
            &json!({"type": "e_learning", "quantity": 5, "expires_at": future}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let list: Value = app.get(&path, &app.admin(org)).await.json().await.unwrap();
    assert_eq!(list["items"], json!([]), "nothing was granted");

    app.grant(account, "e_learning", Some(5)).await;
    let again = app
        .post(
            &path,
            &app.operator(),
            &json!({"type": "e_learning", "quantity": 9, "expires_at": future}),
        )
        .await;
    let body = assert_problem(again, 409, "benefit_already_held").await;
    assert!(body["context"]["benefit_id"].is_string());
}

#[tokio::test]
async fn expired_benefits_move_to_other_benefits_with_a_message() {
    let app = TestApp::spawn_with_demo().await;
    let account = api::demo::DEMO_ACCOUNT.as_uuid();
    let token = app.admin(api::demo::DEMO_ORG.as_uuid());
    let active: Value = app
        .get(&format!("/api/v1/accounts/{account}/benefits"), &token)
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = active["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes.len(),
        8,
        "ten types, one expired, one not held: {codes:?}"
    );
    assert!(!codes.contains(&"windows_thin_pc") && !codes.contains(&"global_service_monitor"));
    assert!(active["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["status"] == "active"));

    let other: Value = app
        .get(
            &format!("/api/v1/accounts/{account}/benefits/other"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    let expired: Vec<&Value> = other["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["expired"] == true)
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["code"], "windows_thin_pc");
    assert_eq!(expired[0]["message"], "This benefit has expired");
    let id = expired[0]["benefit_id"].as_str().unwrap();
    let details: Value = app
        .get(&format!("/api/v1/benefits/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(details["status"], "expired");
    assert_eq!(details["alerts"][0]["code"], "expired");

    let french: Value = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/accounts/{account}/benefits/other"),
            &token,
        )
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expired = french["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["expired"] == true)
        .unwrap();
    assert_eq!(expired["message"], "Cet avantage a expiré");
    let not_held = french["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "global_service_monitor")
        .unwrap();
    assert_eq!(not_held["name"], "Analyse globale des services");
}

#[tokio::test]
async fn another_organizations_benefits_are_not_found() {
    let app = TestApp::spawn_with_demo().await;
    let mine = app.admin(api::demo::DEMO_ORG.as_uuid());
    let foreign_account = api::demo::OTHER_ACCOUNT.as_uuid();
    for path in [
        format!("/api/v1/accounts/{foreign_account}/benefits"),
        format!("/api/v1/accounts/{foreign_account}/benefits/other"),
    ] {
        assert_problem(app.get(&path, &mine).await, 404, "not_found").await;
    }
    let theirs: Value = app
        .get(
            &format!("/api/v1/accounts/{foreign_account}/benefits"),
            &app.admin(api::demo::OTHER_ORG.as_uuid()),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = theirs["items"][0]["id"].as_str().unwrap();
    let foreign = assert_problem(
        app.get(&format!("/api/v1/benefits/{id}"), &mine).await,
        404,
        "not_found",
    )
    .await;
    let missing = assert_problem(
        app.get(&format!("/api/v1/benefits/{}", Uuid::new_v4()), &mine)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(foreign["detail"], missing["detail"]);
    let partner = app.partner(api::demo::DEMO_PARTNER.as_uuid());
    assert_problem(
        app.get(&format!("/api/v1/benefits/{id}"), &partner).await,
        404,
        "not_found",
    )
    .await;
    let demo_account = api::demo::DEMO_ACCOUNT.as_uuid();
    assert_eq!(
        app.get(
            &format!("/api/v1/accounts/{demo_account}/benefits"),
            &partner
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn the_catalog_has_ten_types_in_both_languages_page_by_page() {
    let app = TestApp::spawn().await;
    let token = app.operator();
    let all: Value = app
        .get("/api/v1/benefit-types", &token)
        .await
        .json()
        .await
        .unwrap();
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert_eq!(all["next_cursor"], Value::Null);
    let training = items
        .iter()
        .find(|t| t["code"] == "training_vouchers")
        .unwrap();
    assert_eq!(training["unit"], "training_days");
    let french: Value = app
        .request(reqwest::Method::GET, "/api/v1/benefit-types", &token)
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let training = french["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "training_vouchers")
        .unwrap();
    assert_eq!(training["name"], "Bons de formation");
    let first: Value = app
        .get("/api/v1/benefit-types?limit=4", &token)
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(
            &format!("/api/v1/benefit-types?limit=4&cursor={cursor}"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"][0]["code"], items[4]["code"]);
}

/// Rows of both lists carry what a page shows without a catalog call: the catalog code as
/// `type`, the description, the link, and what the benefit offers (vouchers, conversions…).
#[tokio::test]
async fn list_rows_say_what_each_benefit_is_and_offers() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let account = api::demo::DEMO_ACCOUNT;
    let mine = tests::body(
        app.get(&format!("/api/v1/accounts/{account}/benefits"), &admin)
            .await,
    )
    .await;
    let row = |code: &str| {
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code}"))
    };
    let training = row("training_vouchers");
    assert_eq!(training["features"]["has_vouchers"], true);
    assert_eq!(training["features"]["convertible"], true);
    assert_eq!(
        training["learn_more_url"],
        "http://www.microsoft.com/licensing/software-assurance/training-vouchers.aspx"
    );
    assert!(training["description"]
        .as_str()
        .unwrap()
        .contains("Microsoft training partners"));
    let planning = row("planning_services");
    assert_eq!(planning["features"]["has_vouchers"], false);
    assert_eq!(planning["features"]["convertible"], true);
    let phone = row("problem_resolution_phone");
    assert_eq!(phone["features"]["convertible"], false);
    assert_eq!(phone["features"]["takes_users"], true);
    let other = tests::body(
        app.get(
            &format!("/api/v1/accounts/{account}/benefits/other"),
            &admin,
        )
        .await,
    )
    .await;
    for row in other["items"].as_array().unwrap() {
        assert_eq!(row["type"], row["code"], "{row}");
        assert!(row["features"]["has_vouchers"].is_boolean());
    }
}

#[tokio::test]
async fn every_kind_of_alert_appears_in_the_demo() {
    let app = TestApp::spawn_with_demo().await;
    let mut seen = std::collections::BTreeSet::new();
    for account in [
        api::demo::DEMO_ACCOUNT,
        api::demo::SECOND_ACCOUNT,
        api::demo::OTHER_ACCOUNT,
    ] {
        for list in ["benefits", "benefits/other"] {
            let answer: Value = app
                .get(
                    &format!("/api/v1/accounts/{account}/{list}"),
                    &app.operator(),
                )
                .await
                .json()
                .await
                .unwrap();
            for item in answer["items"].as_array().unwrap() {
                for alert in item["alerts"].as_array().into_iter().flatten() {
                    seen.insert(alert["code"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    let active_kinds = [
        "domain_required",
        "expiring_soon",
        "low_remaining",
        "not_yet_valid",
        "training_days_expiring",
    ];
    for kind in active_kinds {
        assert!(seen.contains(kind), "{kind} missing from {seen:?}");
    }
}
