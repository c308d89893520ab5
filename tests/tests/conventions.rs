//! The HTTP conventions of API.md, one test each, on both databases: languages, entity tags
//! and conditional requests, caching, compression, problem documents for every error,
//! idempotency keys on every POST, and CORS for browser front ends.

use reqwest::Method;
use serde_json::{json, Value};
use tests::{assert_problem, TestApp};
use uuid::Uuid;

const ACCOUNT: &str = "4a7b2c1d-5e6f-4a8b-9c0d-1e2f3a4b5c01";

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn every_answer_says_its_language_and_that_it_varies_with_it() {
    let app = TestApp::spawn_with_demo().await;
    let path = format!("/api/v1/accounts/{ACCOUNT}/benefits");
    for (asked, said) in [
        (None, "en"),
        (Some("fr-FR,fr;q=0.9"), "fr"),
        (Some("de"), "en"),
    ] {
        let mut request = app.request(Method::GET, &path, &app.operator());
        if let Some(language) = asked {
            request = request.header("accept-language", language);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-language"), said, "{asked:?}");
        assert!(
            header(&r, "vary").contains("Accept-Language"),
            "{}",
            header(&r, "vary")
        );
    }
    // Errors too, and answers outside /api/v1.
    let r = app
        .client
        .get(format!("{}/api/v1/benefit-types", app.base))
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-language"), "fr");
    assert!(header(&r, "vary").contains("Accept-Language"));
    let r = app
        .client
        .get(format!("{}/health/live", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-language"), "en");
}

#[tokio::test]
async fn lists_and_single_resources_answer_304_while_nothing_changed() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let benefit = api::demo::DEMO_BENEFIT.to_string();
    let paths = [
        format!("/api/v1/accounts/{ACCOUNT}/benefits"),
        format!("/api/v1/accounts/{ACCOUNT}/benefits/other"),
        format!("/api/v1/benefits/{benefit}"),
        format!("/api/v1/partner-permissions/{}", api::demo::DEMO_PERMISSION),
    ];
    let mut tags = Vec::new();
    for path in &paths {
        let first = app.get(path, &admin).await;
        assert_eq!(first.status(), 200, "{path}");
        let etag = header(&first, "etag");
        assert!(!etag.is_empty(), "{path}: no ETag");
        assert_eq!(
            header(&first, "cache-control"),
            "private, no-cache",
            "{path}"
        );
        let again = app
            .request(Method::GET, path, &admin)
            .header("if-none-match", format!("\"nope\", {etag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(header(&again, "etag"), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        // Another language is another representation.
        let french = app
            .request(Method::GET, path, &admin)
            .header("if-none-match", &etag)
            .header("accept-language", "fr")
            .send()
            .await
            .unwrap();
        assert_eq!(french.status(), 200, "{path} in French");
        assert_ne!(
            header(&french, "etag"),
            etag,
            "{path}: each language its own tag"
        );
        tags.push(etag);
    }
    // A consumption changes the list and the benefit: their old tags no longer match.
    let r = app
        .post(
            &format!("/api/v1/benefits/{benefit}/consumptions"),
            &admin,
            &json!({"quantity": 1}),
        )
        .await;
    assert_eq!(r.status(), 201);
    for (path, etag) in paths
        .iter()
        .zip(&tags)
        .filter(|(p, _)| !p.ends_with("/other") && !p.contains("partner-permissions"))
    {
        let after = app
            .request(Method::GET, path, &admin)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(after.status(), 200, "{path} changed");
        assert_ne!(&header(&after, "etag"), etag);
    }
}

#[tokio::test]
async fn if_match_takes_lists_and_star_and_a_weak_tag_never_matches() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let path = format!(
        "/api/v1/partner-permissions/{}",
        api::demo::PENDING_PERMISSION
    );
    let current = header(&app.get(&path, &admin).await, "etag");
    let patch = |if_match: String| {
        app.request(Method::PATCH, &path, &admin)
            .header("if-match", if_match)
            .json(&json!({"status": "approved"}))
            .send()
    };
    assert_problem(
        patch("garbage".into()).await.unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        patch(format!("W/{current}")).await.unwrap(),
        412,
        "precondition_failed",
    )
    .await;
    assert_problem(
        patch("\"999\", \"998\"".into()).await.unwrap(),
        412,
        "precondition_failed",
    )
    .await;
    let ok = patch(format!("\"999\", {current}")).await.unwrap();
    assert_eq!(ok.status(), 200, "one of the list matches");
    let star = app
        .request(Method::PATCH, &path, &admin)
        .header("if-match", "*")
        .json(&json!({"status": "removed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(star.status(), 200);
}

#[tokio::test]
async fn answers_are_compressed_when_the_client_accepts_gzip() {
    let app = TestApp::spawn_with_demo().await;
    let r = app
        .request(
            Method::GET,
            &format!("/api/v1/accounts/{ACCOUNT}/benefits"),
            &app.operator(),
        )
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-encoding"), "gzip");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    let plain = app
        .get(
            &format!("/api/v1/accounts/{ACCOUNT}/benefits"),
            &app.operator(),
        )
        .await;
    assert!(plain.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn product_keys_are_never_stored_by_a_cache() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let r = app
        .get(
            &format!(
                "/api/v1/benefits/{}/product-keys",
                api::demo::DEMO_SOFTWARE_BENEFIT
            ),
            &admin,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-store");
}

#[tokio::test]
async fn every_error_is_problem_json_with_its_instance() {
    let app = TestApp::spawn_with_demo().await;
    let path = format!("/api/v1/benefits/{}", Uuid::new_v4());
    let body = assert_problem(app.get(&path, &app.operator()).await, 404, "not_found").await;
    assert_eq!(body["instance"], path.as_str());
    // Malformed JSON, a wrong method, an unknown route: the framework's errors, ours in form.
    let r = app
        .request(Method::POST, "/api/v1/organizations", &app.operator())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 400, "malformed_json").await;
    assert_eq!(body["instance"], "/api/v1/organizations");
    let r = app
        .request(Method::PUT, "/api/v1/organizations", &app.operator())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(header(&r, "content-type").starts_with("application/problem+json"));
}

#[tokio::test]
async fn an_idempotency_key_on_a_create_makes_one_resource() {
    let app = TestApp::spawn().await;
    let send = |key: &'static str, name: &'static str| {
        app.request(Method::POST, "/api/v1/organizations", &app.operator())
            .header("idempotency-key", key)
            .json(&json!({"name": name}))
            .send()
    };
    let first = send("org-1", "Contoso").await.unwrap();
    assert_eq!(first.status(), 201);
    let first_body: Value = first.json().await.unwrap();
    let again = send("org-1", "Contoso").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(header(&again, "idempotent-replayed"), "true");
    let again_body: Value = again.json().await.unwrap();
    assert_eq!(again_body["id"], first_body["id"], "the same organization");
    assert_problem(
        send("org-1", "Fabrikam").await.unwrap(),
        422,
        "idempotency_key_reused",
    )
    .await;
    // Accounts, partners, domains and permission requests too.
    let org = first_body["id"].as_str().unwrap().to_owned();
    for (path, body, key) in [
        (
            format!("/api/v1/organizations/{org}/accounts"),
            json!({"name": "EMEA"}),
            "account-1",
        ),
        (
            "/api/v1/partners".to_owned(),
            json!({"name": "Tailspin"}),
            "partner-1",
        ),
    ] {
        let token = app.operator();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let r = app
                .request(Method::POST, &path, &token)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{path}");
            let created: Value = r.json().await.unwrap();
            ids.push(created["id"].clone());
        }
        assert_eq!(ids[0], ids[1], "{path}: one resource");
    }
    let path = format!("/api/v1/organizations/{org}/accounts");
    let accounts = tests::body(app.get(&path, &app.operator()).await).await;
    assert_eq!(accounts["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn browsers_on_loopback_may_call_and_others_get_a_problem() {
    let app = TestApp::spawn().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                Method::OPTIONS,
                format!("{}/api/v1/benefit-types", app.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header(
                "access-control-request-headers",
                "authorization, x-request-id, if-none-match, idempotency-key",
            )
            .send()
    };
    let ok = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        header(&ok, "access-control-allow-origin"),
        "http://localhost:5173"
    );
    let allowed = header(&ok, "access-control-allow-headers").to_ascii_lowercase();
    for h in [
        "authorization",
        "x-request-id",
        "if-none-match",
        "idempotency-key",
    ] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    let refused = preflight("https://evil.example").await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(header(&refused, "content-type").starts_with("application/problem+json"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "cors_refused");
    // A real call from loopback exposes the headers a front end reads.
    let r = app
        .client
        .get(format!("{}/api/v1/benefit-types", app.base))
        .bearer_auth(app.operator())
        .header("origin", "http://127.0.0.1:3000")
        .send()
        .await
        .unwrap();
    let exposed = header(&r, "access-control-expose-headers").to_ascii_lowercase();
    for h in [
        "etag",
        "content-disposition",
        "x-request-id",
        "content-language",
        "retry-after",
    ] {
        assert!(exposed.contains(h), "{h} in {exposed}");
    }
}
