//! HTTP-level behaviour: problem+json for every error, service routes, the OpenAPI contract.

use reqwest::Method;
use serde_json::{json, Value};
use tests::{assert_problem, TestApp};

#[tokio::test]
async fn malformed_wrong_type_and_oversized_bodies_are_problems() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/v1/organizations", app.base);
    let token = app.operator();
    let send = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_problem(
        send(b"{\"name\":".to_vec(), "application/json")
            .await
            .unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send(b"[1,2]".to_vec(), "application/json").await.unwrap(),
        400,
        "invalid_body",
    )
    .await;
    assert_problem(
        send(b"{\"name\":\"x\"}".to_vec(), "text/plain")
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(70 * 1024)).into_bytes();
    assert_problem(
        send(big, "application/json").await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    let orgs_after = app
        .post(
            "/api/v1/organizations",
            &token,
            &json!({"name": "Only one"}),
        )
        .await;
    assert_eq!(orgs_after.status(), 201);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    let token = app.operator();
    let r = app
        .client
        .get(format!("{}/no/such/route", app.base))
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "no_route").await;
    let r = app.get("/api/v1/no-such-resource", &token).await;
    assert_problem(r, 404, "no_route").await;
    let r = app
        .request(Method::DELETE, "/api/v1/organizations", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    assert_problem(r, 405, "method_not_allowed").await;
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/accounts/{}/benefits", uuid::Uuid::new_v4()),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "GET, POST");
    assert_problem(r, 405, "method_not_allowed").await;
    let r = app.get("/api/v1/organizations/not-a-uuid", &token).await;
    let body = assert_problem(r, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "org_id");
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(format!("{}/health/live", app.base))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-123");
    let r = app
        .client
        .get(format!("{}/api/v1/benefit-types", app.base))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = assert_problem(r, 401, "missing_token").await;
    assert_eq!(body["request_id"], id.as_str());
}

#[tokio::test]
async fn health_metrics_and_swagger_ui_are_served_without_a_token() {
    let app = TestApp::spawn().await;
    let get = |path: &str| app.client.get(format!("{}{}", app.base, path)).send();
    assert_eq!(get("/health/live").await.unwrap().status(), 200);
    let ready: Value = get("/health/ready").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], tests::backend_name());
    app.get("/api/v1/benefit-types", &app.operator()).await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(
            r#"http_requests_total{method="GET",route="/api/v1/benefit-types",status="2xx"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("db_pool_connections"));
    let ui = get("/swagger-ui/").await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger-ui"));
    let redirect = app
        .client
        .get(format!("{}/swagger-ui", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect.url().path(),
        "/swagger-ui/",
        "followed the redirect"
    );
    let config = get("/swagger-ui/swagger-initializer.js")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(config.contains("/api-docs/openapi.json"));
}

/// The served document equals the committed `openapi/openapi.json`. After a deliberate change
/// of the contract, refresh it: `UPDATE_OPENAPI=1 cargo test -p tests --test end_to_end protocol::`.
#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let app = TestApp::spawn().await;
    let served: Value = app
        .client
        .get(format!("{}/api-docs/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(openapi::committed_document_path(), pretty).unwrap();
    }
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(openapi::committed_document_path()).unwrap())
            .unwrap();
    assert!(
        served == committed,
        "the served OpenAPI document differs from openapi/openapi.json; if the change is intended run UPDATE_OPENAPI=1 cargo test -p tests --test end_to_end protocol::"
    );
    assert_eq!(served["openapi"], "3.1.0");
}

#[tokio::test]
async fn every_operation_is_documented_with_its_errors() {
    let document = api::openapi_document();
    let document: Value = serde_json::to_value(&document).unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 8);
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path}");
        for (method, operation) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{what}: summary"
            );
            assert!(
                operation["description"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{what}: description"
            );
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{what}: tag"
            );
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what}: success response"
            );
            for status in ["401", "500"] {
                assert!(responses.contains_key(status), "{what}: {status}");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{what}: {status}");
                }
            }
        }
    }
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(document["info"]["description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    assert_eq!(document["info"]["license"]["name"], "MIT");
}

/// The document's path examples name the demo's resources: every GET of the document, with
/// its examples, answers 2xx on a server that filled the demo (what Swagger UI's "Try it
/// out" sends).
#[tokio::test]
async fn the_path_examples_of_the_document_work_on_the_demo() {
    let app = TestApp::spawn_with_demo().await;
    let document: Value = serde_json::to_value(api::openapi_document()).unwrap();
    let mut tried = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        let mut url = path.clone();
        for p in get["parameters"].as_array().unwrap() {
            if p["in"] == "path" {
                let name = p["name"].as_str().unwrap();
                let example = p["example"].as_str().expect("an example");
                url = url.replace(&format!("{{{name}}}"), example);
            }
        }
        if path.contains("/export") {
            url.push_str("?format=csv");
        }
        if path.ends_with("/quote") {
            url.push_str("?direction=forward&planning_days=1");
        }
        let token = if path.starts_with("/api/v1/partners/me") {
            app.partner(api::demo::DEMO_PARTNER.as_uuid())
        } else {
            app.admin(api::demo::DEMO_ORG.as_uuid())
        };
        let status = app.get(&url, &token).await.status();
        assert!(status.is_success(), "GET {url}: {status}");
        tried += 1;
    }
    assert!(tried >= 20, "{tried} operations tried");
}

/// The document's e-mail and domain patterns say exactly what the server's parsers accept:
/// samples accepted and refused give the same verdict through both (hyphens, Unicode domains,
/// long labels, spaces around, a final dot…). The same patterns are compiled by Python and
/// JavaScript in `tests/lint/run`.
#[test]
fn the_document_patterns_agree_with_the_parsers() {
    use domain::values::{DomainName, EmailAddress};
    let document = serde_json::to_value(api::openapi_document()).unwrap();
    let pattern = |name: &str| {
        let text = document["components"]["schemas"][name]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no pattern"))
            .to_owned();
        fancy_regex::Regex::new(&text).expect("the pattern compiles")
    };
    let (domain, email) = (pattern("Domain"), pattern("Email"));
    let label63 = "a".repeat(63);
    let label64 = "a".repeat(64);
    // 4 labels of 63 and one of 1: 4 * 64 + 1 = 257 characters; 3 * 64 + 61 = 253.
    let long253 = format!("{l}.{l}.{l}.{}", "b".repeat(61), l = label63);
    let long254 = format!("{l}.{l}.{l}.{}", "b".repeat(62), l = label63);
    let domains: Vec<(String, bool)> = [
        ("contoso.com", true),
        ("Contoso.COM", true),
        ("contoso-europe.com", true),
        ("bücher.de", true),
        ("日本.jp", true),
        // Found by schemathesis: a private-use character, refused by IDNA and by the pattern.
        (
            "\u{b}\n\tí.Ćž1碉Ⱦ.ŗ\u{eea5}īŒ.ý.\u{c}\u{c}\u{b} \n\u{c}",
            false,
        ),
        ("a\u{e000}b.com", false),
        ("a\u{2010}b.com", true),
        ("xn--bcher-kva.de", true),
        ("a.b.c.d.example", true),
        ("sub.example.co.uk", true),
        ("123.example.com", true),
        ("example.c0m", true),
        ("  contoso.com  ", true),
        ("contoso.com.", true),
        ("", false),
        ("contoso", false),
        ("-contoso.com", false),
        ("contoso-.com", false),
        ("con toso.com", false),
        ("contoso..com", false),
        (".contoso.com", false),
        ("contoso.123", false),
        ("a@b.com", false),
        ("contoso.com..", false),
        ("contoso_x.com", false),
        ("http://contoso.com", false),
    ]
    .into_iter()
    .map(|(d, ok)| (d.to_owned(), ok))
    .chain([
        (format!("{label63}.com"), true),
        (format!("{label64}.com"), false),
        (long253.clone(), true),
        (long254, false),
    ])
    .collect();
    for (sample, expected) in &domains {
        let parsed = DomainName::parse(sample).is_ok();
        let matched = domain.is_match(sample).unwrap();
        assert_eq!(parsed, *expected, "parser on domain {sample:?}");
        assert_eq!(
            matched, parsed,
            "pattern and parser disagree on domain {sample:?}"
        );
    }
    let local64 = "l".repeat(64);
    let local65 = "l".repeat(65);
    let emails: Vec<(String, bool)> = [
        ("li.wei@contoso.com", true),
        ("Li.Wei@Contoso.COM", true),
        ("a+tag@contoso-europe.com", true),
        ("o'brien@bücher.de", true),
        (" ana@contoso.com ", true),
        ("x@日本.jp", true),
        ("!#$%&'*+/=?^_`{|}~-@example.com", true),
        ("ana", false),
        ("@contoso.com", false),
        ("ana@", false),
        (".ana@contoso.com", false),
        ("ana.@contoso.com", false),
        ("an..a@contoso.com", false),
        ("ana@contoso", false),
        ("ana@ contoso.com", false),
        ("ana@contoso.com.", false),
        ("ana lopez@contoso.com", false),
        ("ana@contoso..com", false),
        ("a(b)@contoso.com", false),
        ("ana@-contoso.com", false),
        ("ana@contoso.123", false),
    ]
    .into_iter()
    .map(|(e, ok)| (e.to_owned(), ok))
    .chain([
        (format!("{local64}@contoso.com"), true),
        (format!("{local65}@contoso.com"), false),
        (format!("x@{long253}"), true),
    ])
    .collect();
    for (sample, expected) in &emails {
        let parsed = EmailAddress::parse(sample).is_ok();
        let matched = email.is_match(sample).unwrap();
        assert_eq!(parsed, *expected, "parser on e-mail {sample:?}");
        assert_eq!(
            matched, parsed,
            "pattern and parser disagree on e-mail {sample:?}"
        );
    }
}
