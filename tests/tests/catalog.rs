//! The catalog grows without code: an operator adds a type, every account sees it among its
//! other benefits, it can be granted and used, and a partner approved before it existed acts on
//! it only with `manage_future_benefits`.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};
use tests::{assert_problem, body, TestApp};
use uuid::Uuid;

fn both(en: &str, fr: &str) -> Value {
    json!({"en": en, "fr": fr})
}

/// A download type with one keyed package.
fn visio(code: &str) -> Value {
    json!({
        "code": code, "unit": "downloads",
        "name": both("Visio Professional Pack", "Pack Visio Professionnel"),
        "description": both("Visio Professional for people who draw diagrams.", "Visio Professionnel pour qui dessine des diagrammes."),
        "learn_more_url": "https://www.microsoft.com/en-us/Licensing/licensing-programs/software-assurance-by-product.aspx",
        "admin_instructions": both("Record each download.", "Enregistrez chaque téléchargement."),
        "end_user_instructions": both("Download Visio from the VLSC.", "Téléchargez Visio depuis le VLSC."),
        "calculation": both("One download per Visio licence with SA.", "Un téléchargement par licence Visio avec SA."),
        "features": {"has_downloads": true, "has_product_keys": true},
        "software": [{"id": "vsp-2026-x64", "name": both("Visio Pro 2026 (x64)", "Visio Pro 2026 (x64, français)"),
                      "version": "2026", "language": "multilingual", "size_mb": 3100, "needs_product_key": true}]
    })
}

/// A participants type whose users need an authorized domain.
fn course(code: &str) -> Value {
    json!({
        "code": code, "unit": "participants",
        "name": both("Copilot Academy", "Académie Copilot"),
        "description": both("Guided courses on Copilot.", "Des cours guidés sur Copilot."),
        "learn_more_url": "https://www.microsoft.com/learning/sa",
        "admin_instructions": both("Enrol participants.", "Inscrivez les participants."),
        "end_user_instructions": both("Sign in to start.", "Connectez-vous pour commencer."),
        "calculation": both("One seat per 50 licences.", "Une place pour 50 licences."),
        "features": {"takes_users": true, "user_consumes": true, "removal_releases": true,
                     "requires_authorized_domain": true}
    })
}

async fn catalog_codes(app: &TestApp) -> Vec<String> {
    body(
        app.get("/api/v1/benefit-types?limit=100", &app.operator())
            .await,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_added_type_is_at_once_in_the_catalog_among_other_benefits_and_can_be_used() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let r = app
        .request(Method::POST, "/api/v1/benefit-types", &app.operator())
        .header("accept-language", "fr")
        .json(&visio("visio_pack"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let added = body(r).await;
    assert_eq!(added["name"], "Pack Visio Professionnel");
    assert_eq!(added["features"]["has_product_keys"], true);

    let r = app
        .request(
            Method::GET,
            "/api/v1/benefit-types?limit=100",
            &app.admin(org),
        )
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    let listed = body(r).await;
    let last = listed["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["code"], "visio_pack", "added after the others");
    assert_eq!(
        last["description"],
        "Visio Professionnel pour qui dessine des diagrammes."
    );

    let other = body(
        app.get(
            &format!("/api/v1/accounts/{account}/benefits/other"),
            &app.admin(org),
        )
        .await,
    )
    .await;
    assert!(
        other["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == "visio_pack"),
        "{other}"
    );

    let benefit = app.grant(account, "visio_pack", Some(3)).await;
    let downloads = body(
        app.request(
            Method::GET,
            &format!("/api/v1/benefits/{benefit}/downloads"),
            &app.admin(org),
        )
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(downloads["items"][0]["id"], "vsp-2026-x64");
    assert_eq!(
        downloads["items"][0]["name"],
        "Visio Pro 2026 (x64, français)"
    );
    assert!(downloads["items"][0]["download_url"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let r = app
        .post(
            &format!("/api/v1/benefits/{benefit}/downloads"),
            &app.admin(org),
            &json!({"software_id": "vsp-2026-x64"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let b = body(
        app.get(&format!("/api/v1/benefits/{benefit}"), &app.admin(org))
            .await,
    )
    .await;
    assert_eq!(
        (b["used"].as_i64(), b["remaining"].as_i64()),
        (Some(1), Some(2))
    );
}

#[tokio::test]
async fn bad_types_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let before = catalog_codes(&app).await;
    assert_problem(
        app.post(
            "/api/v1/benefit-types",
            &app.admin(org),
            &visio("visio_pack"),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let mut contradicting = course("broken_course");
    contradicting["features"]["takes_users"] = json!(false);
    let problem = assert_problem(
        app.post("/api/v1/benefit-types", &app.operator(), &contradicting)
            .await,
        422,
        "inconsistent_features",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("takes_users"));
    let mut downloads_without_software = visio("no_software");
    downloads_without_software["software"] = json!([]);
    assert_problem(
        app.post(
            "/api/v1/benefit-types",
            &app.operator(),
            &downloads_without_software,
        )
        .await,
        422,
        "inconsistent_features",
    )
    .await;
    let mut malformed = visio("Not A Code");
    malformed["unit"] = json!("hours");
    malformed["name"]["fr"] = json!("");
    malformed["learn_more_url"] = json!("ftp://example.com/x");
    malformed["software"][0]["size_mb"] = json!(1_000_001);
    let mut negative = malformed["software"][0].clone();
    negative["id"] = json!("visio_negative");
    negative["size_mb"] = json!(-1);
    malformed["software"].as_array_mut().unwrap().push(negative);
    let problem = assert_problem(
        app.post("/api/v1/benefit-types", &app.operator(), &malformed)
            .await,
        400,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "code",
        "unit",
        "name.fr",
        "learn_more_url",
        "software[0].size_mb",
        "software[1].size_mb",
    ] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
    }
    assert_problem(
        app.post(
            "/api/v1/benefit-types",
            &app.operator(),
            &visio("e_learning"),
        )
        .await,
        409,
        "type_exists",
    )
    .await;
    assert_eq!(catalog_codes(&app).await, before, "nothing was added");
}

#[tokio::test]
async fn a_size_written_as_a_whole_number_with_a_fraction_is_an_integer() {
    // JSON Schema counts 3100.0 as an integer, so a generated client may send it.
    let app = TestApp::spawn().await;
    let mut body = visio("visio_float");
    body["software"][0]["size_mb"] = json!(3100.0);
    let response = app
        .post("/api/v1/benefit-types", &app.operator(), &body)
        .await;
    assert_eq!(response.status(), 201);
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let benefit = app.grant(account, "visio_float", Some(1)).await;
    let downloads = tests::body(
        app.get(
            &format!("/api/v1/benefits/{benefit}/downloads"),
            &app.admin(org),
        )
        .await,
    )
    .await;
    assert_eq!(downloads["items"][0]["size_mb"], 3100);
}

#[tokio::test]
async fn two_operators_adding_the_same_code_at_once_add_it_once() {
    let app = TestApp::spawn().await;
    let (token, type_body) = (app.operator(), visio("visio_pack"));
    let requests = (0..8).map(|_| app.post("/api/v1/benefit-types", &token, &type_body));
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let codes = catalog_codes(&app).await;
    assert_eq!(codes.iter().filter(|c| *c == "visio_pack").count(), 1);
}

#[tokio::test]
async fn a_type_added_after_the_approval_needs_manage_future_benefits() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let admin = app.admin(org);
    let r = app
        .post(
            &format!("/api/v1/accounts/{account}/domains"),
            &admin,
            &json!({"domain": "contoso.com"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let without = app.create_partner("Fabrikam").await;
    let with = app.create_partner("Northwind").await;
    app.permit(org, without, Some(&["manage_users"])).await;
    app.permit(org, with, Some(&["manage_users", "manage_future_benefits"]))
        .await;
    let shipped = app.grant(account, "e_learning", Some(10)).await;

    app.advance(Duration::seconds(5));
    let r = app
        .post(
            "/api/v1/benefit-types",
            &app.operator(),
            &course("copilot_academy"),
        )
        .await;
    assert_eq!(r.status(), 201);
    let later = app.grant(account, "copilot_academy", Some(10)).await;
    // A partner approved after the type was added is covered like for any other type.
    app.advance(Duration::seconds(5));
    let after = app.create_partner("Tailspin").await;
    app.permit(org, after, Some(&["manage_users"])).await;

    let add = |benefit: Uuid, partner: Uuid, email: &'static str| {
        let app = &app;
        async move {
            app.post(
                &format!("/api/v1/benefits/{benefit}/users"),
                &app.partner(partner),
                &json!({"email": email, "display_name": "Someone"}),
            )
            .await
        }
    };
    assert_eq!(add(shipped, without, "a@contoso.com").await.status(), 201);
    let problem = assert_problem(
        add(later, without, "b@contoso.com").await,
        403,
        "missing_scope",
    )
    .await;
    assert!(
        problem.to_string().contains("manage_future_benefits"),
        "{problem}"
    );
    // Reading the benefit is not acting on it.
    assert_eq!(
        app.get(&format!("/api/v1/benefits/{later}"), &app.partner(without))
            .await
            .status(),
        200
    );
    assert_eq!(add(later, with, "c@contoso.com").await.status(), 201);
    assert_eq!(add(later, after, "d@contoso.com").await.status(), 201);
    let b = body(app.get(&format!("/api/v1/benefits/{later}"), &admin).await).await;
    assert_eq!(b["used"], 2, "the refused call changed nothing");
}
