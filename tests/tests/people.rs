//! People and delivery: authorized domains, users of benefits and what they consume, access
//! codes and instructions through the outbox, SMTP delivery, downloads and product keys.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};
use tests::smtp::SmtpServer;
use tests::{assert_problem, body, ledger_agrees, TestApp};
use uuid::Uuid;

async fn figures(app: &TestApp, benefit: Uuid) -> Value {
    let b = body(
        app.get(&format!("/api/v1/benefits/{benefit}"), &app.operator())
            .await,
    )
    .await;
    json!([b["quantity"], b["used"], b["remaining"]])
}

async fn alerts(app: &TestApp, benefit: Uuid) -> Vec<String> {
    let b = body(
        app.get(&format!("/api/v1/benefits/{benefit}"), &app.operator())
            .await,
    )
    .await;
    b["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn add_user(app: &TestApp, benefit: Uuid, token: &str, email: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/benefits/{benefit}/users"),
        token,
        &json!({"email": email, "display_name": "Someone"}),
    )
    .await
}

async fn add_domain(app: &TestApp, account: Uuid, token: &str, domain: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/accounts/{account}/domains"),
        token,
        &json!({ "domain": domain }),
    )
    .await
}

#[tokio::test]
async fn domains_are_canonical_unique_and_guarded() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let admin = app.admin(org);
    let r = add_domain(&app, account, &admin, "Contoso.COM").await;
    assert_eq!(r.status(), 201);
    assert_eq!(body(r).await["domain"], "contoso.com");
    let r = add_domain(&app, account, &admin, "Bücher.Example").await;
    assert_eq!(body(r).await["domain"], "xn--bcher-kva.example");
    assert_problem(
        add_domain(&app, account, &admin, "CONTOSO.com").await,
        409,
        "domain_exists",
    )
    .await;
    assert_problem(
        add_domain(&app, account, &admin, "xn--bcher-kva.example").await,
        409,
        "domain_exists",
    )
    .await;
    assert_problem(
        add_domain(&app, account, &admin, "not a domain").await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        add_domain(&app, account, &app.operator(), "fabrikam.com").await,
        403,
        "forbidden",
    )
    .await;
    let list = body(
        app.get(
            &format!("/api/v1/accounts/{account}/domains"),
            &app.operator(),
        )
        .await,
    )
    .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["contoso.com", "xn--bcher-kva.example"]);
    // A user at the Unicode form of the domain is accepted.
    let learning = app.grant(account, "e_learning", Some(5)).await;
    assert_eq!(
        add_user(&app, learning, &admin, "hans@bücher.example")
            .await
            .status(),
        201
    );
    // Removal: refused while users exist, or removes them (and gives e-learning units back).
    assert_eq!(
        add_user(&app, learning, &admin, "ana@contoso.com")
            .await
            .status(),
        201
    );
    assert_eq!(figures(&app, learning).await, json!([5, 2, 3]));
    let path = format!("/api/v1/accounts/{account}/domains/contoso.com");
    let problem = assert_problem(
        app.request(Method::DELETE, &path, &admin)
            .send()
            .await
            .unwrap(),
        409,
        "domain_in_use",
    )
    .await;
    assert_eq!(problem["context"]["users"], 1);
    let r = app
        .request(Method::DELETE, &format!("{path}?remove_users=true"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(figures(&app, learning).await, json!([5, 1, 4]));
    let users = body(
        app.get(&format!("/api/v1/benefits/{learning}/users"), &admin)
            .await,
    )
    .await;
    assert_eq!(users["items"].as_array().unwrap().len(), 1);
    let r = app
        .request(Method::DELETE, &path, &admin)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    ledger_agrees(&app, learning).await;
}

#[tokio::test]
async fn users_consume_as_their_type_says() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let admin = app.admin(org);
    let learning = app.grant(account, "e_learning", Some(2)).await;
    let hup = app.grant(account, "home_use_program", Some(20)).await;
    let phone = app
        .grant(account, "problem_resolution_phone", Some(5))
        .await;
    let training = app.grant(account, "training_vouchers", Some(5)).await;

    // No domain yet: the alert says so, and users are refused naming the domain.
    assert!(alerts(&app, learning)
        .await
        .contains(&"domain_required".to_owned()));
    let problem = assert_problem(
        add_user(&app, learning, &admin, "li@contoso.com").await,
        422,
        "domain_not_authorized",
    )
    .await;
    assert_eq!(problem["context"]["domain"], "contoso.com");
    assert_eq!(
        add_domain(&app, account, &admin, "contoso.com")
            .await
            .status(),
        201
    );
    assert!(!alerts(&app, learning)
        .await
        .contains(&"domain_required".to_owned()));

    let r = add_user(&app, learning, &admin, "Li@Contoso.COM").await;
    assert_eq!(r.status(), 201);
    let li = body(r).await;
    assert_eq!(li["email"], "Li@contoso.com");
    assert_problem(
        add_user(&app, learning, &admin, "li@contoso.com").await,
        409,
        "user_exists",
    )
    .await;
    assert_problem(
        add_user(&app, learning, &admin, "not-an-email").await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        add_user(&app, learning, &admin, "x@fabrikam.com").await,
        422,
        "domain_not_authorized",
    )
    .await;
    assert_eq!(
        add_user(&app, learning, &admin, "sam@contoso.com")
            .await
            .status(),
        201
    );
    let problem = assert_problem(
        add_user(&app, learning, &admin, "kim@contoso.com").await,
        422,
        "not_enough_remaining",
    )
    .await;
    assert_eq!(problem["context"]["remaining"], 0);
    assert_eq!(figures(&app, learning).await, json!([2, 2, 0]));
    assert!(alerts(&app, learning)
        .await
        .contains(&"low_remaining".to_owned()));

    // Modify: a new address must still be authorized.
    let user_path = format!(
        "/api/v1/benefits/{learning}/users/{}",
        li["id"].as_str().unwrap()
    );
    let r = app
        .patch(&user_path, &admin, &json!({"display_name": "Li Wei"}))
        .await;
    assert_eq!(body(r).await["display_name"], "Li Wei");
    assert_problem(
        app.patch(&user_path, &admin, &json!({"email": "li@fabrikam.com"}))
            .await,
        422,
        "domain_not_authorized",
    )
    .await;
    assert_problem(
        app.patch(&user_path, &admin, &json!({"email": "sam@contoso.com"}))
            .await,
        409,
        "user_exists",
    )
    .await;
    // If-Match: the version of the list or of the last answer; a stale one is refused.
    let users = body(
        app.get(&format!("/api/v1/benefits/{learning}/users"), &admin)
            .await,
    )
    .await;
    let version = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == li["id"])
        .unwrap()["version"]
        .as_i64()
        .unwrap();
    let patch = |tag: String, name: &'static str| {
        let (app, admin, path) = (&app, admin.clone(), user_path.clone());
        async move {
            app.request(Method::PATCH, &path, &admin)
                .header("If-Match", tag)
                .json(&json!({ "display_name": name }))
                .send()
                .await
                .unwrap()
        }
    };
    let r = patch(format!("\"{version}\""), "Li W.").await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag, format!("\"{version}\""));
    assert_problem(
        patch(format!("\"{version}\""), "Stale").await,
        412,
        "precondition_failed",
    )
    .await;
    assert_problem(patch("W/xyz".into(), "Bad").await, 400, "validation_failed").await;
    assert_eq!(patch(etag, "Li Wei").await.status(), 200);
    // Removing an e-learning participant gives the unit back.
    assert_eq!(
        app.request(Method::DELETE, &user_path, &admin)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(figures(&app, learning).await, json!([2, 1, 1]));
    assert_problem(
        app.request(Method::DELETE, &user_path, &admin)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;

    // HUP: the licence stays used; the access code goes out by e-mail.
    let r = add_user(&app, hup, &admin, "ana@contoso.com").await;
    let ana = body(r).await["id"].as_str().unwrap().to_owned();
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/benefits/{hup}/users/{ana}/access-code"),
            &admin,
        )
        .header("Accept-Language", "fr")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mail = body(r).await;
    let code = body(app.get(&format!("/api/v1/benefits/{hup}"), &admin).await).await;
    let code = code["identification"]["access_code"]
        .as_str()
        .expect("HUP access code")
        .to_owned();
    assert_eq!(code.len(), 10);
    assert!(mail["body"].as_str().unwrap().contains(&code), "{mail}");
    assert_eq!(mail["language"], "fr");
    assert_eq!(
        app.request(
            Method::DELETE,
            &format!("/api/v1/benefits/{hup}/users/{ana}"),
            &admin
        )
        .send()
        .await
        .unwrap()
        .status(),
        204
    );
    assert_eq!(figures(&app, hup).await, json!([20, 1, 19]));
    // No access code on e-learning.
    let r = add_user(&app, learning, &admin, "kim@contoso.com").await;
    let kim = body(r).await["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/benefits/{learning}/users/{kim}/access-code"),
            &admin,
            &json!(null),
        )
        .await;
    assert_problem(r, 422, "no_access_code").await;
    let r = app
        .post(
            &format!("/api/v1/benefits/{learning}/users/{kim}/resend-instructions"),
            &admin,
            &json!(null),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(body(r).await["template"], "end_user_instructions");

    // Support contacts: any domain, free. Vouchers take no users.
    assert_eq!(
        add_user(&app, phone, &admin, "ops@partner.example")
            .await
            .status(),
        201
    );
    assert_eq!(figures(&app, phone).await, json!([5, 0, 5]));
    assert_problem(
        add_user(&app, training, &admin, "li@contoso.com").await,
        422,
        "users_not_supported",
    )
    .await;
    for b in [learning, hup, phone] {
        ledger_agrees(&app, b).await;
    }
    // Instructions went to each added user.
    let outbox = body(
        app.get(
            &format!("/api/v1/organizations/{org}/notifications?limit=200"),
            &admin,
        )
        .await,
    )
    .await;
    let instructions = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["template"] == "end_user_instructions")
        .count();
    assert_eq!(instructions, 6);
}

#[tokio::test]
async fn downloads_consume_and_product_key_views_are_audited() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let admin = app.admin(org);
    let thin = app.grant(account, "windows_thin_pc", Some(1)).await;
    let learning = app.grant(account, "e_learning", Some(1)).await;
    let list = body(
        app.get(&format!("/api/v1/benefits/{thin}/downloads"), &admin)
            .await,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["remaining"], 1);
    let download = |software: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.post(
                &format!("/api/v1/benefits/{thin}/downloads"),
                &admin,
                &json!({"software_id": software}),
            )
            .await
        }
    };
    assert_problem(download("nope").await, 422, "unknown_software").await;
    for package in list["items"].as_array().unwrap() {
        assert!(
            package["download_url"]
                .as_str()
                .unwrap()
                .starts_with("https://"),
            "{package}"
        );
    }
    let r = download("wtp-x86-fr").await;
    assert_eq!(r.status(), 201);
    let recorded = body(r).await;
    assert_eq!(recorded["change"]["remaining"], 0);
    // The recorded download answers where to download it.
    assert_eq!(
        recorded["software"]["download_url"],
        domain::catalog::DOWNLOAD_CENTER
    );
    let problem = assert_problem(download("wtp-x86-en").await, 422, "not_enough_remaining").await;
    assert_eq!(problem["context"]["remaining"], 0);
    ledger_agrees(&app, thin).await;
    // Keys are issued once and every view is audited.
    let keys = body(
        app.get(&format!("/api/v1/benefits/{thin}/product-keys"), &admin)
            .await,
    )
    .await;
    let again = body(
        app.get(&format!("/api/v1/benefits/{thin}/product-keys"), &admin)
            .await,
    )
    .await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 2);
    assert_eq!(keys, again);
    assert_eq!(keys["items"][0]["product_key"].as_str().unwrap().len(), 29);
    let audit = body(
        app.get(&format!("/api/v1/organizations/{org}/audit-events"), &admin)
            .await,
    )
    .await;
    let views = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "product_keys_viewed")
        .count();
    assert_eq!(views, 2);
    assert_problem(
        app.get(&format!("/api/v1/benefits/{learning}/product-keys"), &admin)
            .await,
        422,
        "no_product_keys",
    )
    .await;
    // Operators list downloads but neither download nor see keys.
    assert_eq!(
        app.get(
            &format!("/api/v1/benefits/{thin}/downloads"),
            &app.operator()
        )
        .await
        .status(),
        200
    );
    assert_problem(
        app.get(
            &format!("/api/v1/benefits/{thin}/product-keys"),
            &app.operator(),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

async fn outbox(app: &TestApp, org: Uuid) -> Vec<Value> {
    body(
        app.get(
            &format!("/api/v1/organizations/{org}/notifications"),
            &app.operator(),
        )
        .await,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// A partner asks an organization with one contact for a permission: one e-mail in the
/// outbox. The organization's id.
async fn request_to_an_organization(app: &TestApp) -> Uuid {
    let r = app
        .post(
            "/api/v1/organizations",
            &app.operator(),
            &json!({"name": "Contoso", "contact_emails": ["it@contoso.example"]}),
        )
        .await;
    let org = tests::id_of(r).await;
    let partner = app.create_partner("Northwind").await;
    app.request_permission(org, partner, None, None).await;
    org
}

/// Waits (up to 10 s) until the newest notification of the organization is sent.
async fn wait_until_sent(app: &TestApp, org: Uuid) {
    for _ in 0..100 {
        if outbox(app, org).await[0]["status"] == "sent" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the notification was not sent within 10 s");
}

#[tokio::test]
async fn the_outbox_is_delivered_once_by_smtp() {
    let smtp = SmtpServer::start(0).await;
    let app = TestApp::spawn_with_smtp(smtp.url()).await;
    let org = request_to_an_organization(&app).await;
    wait_until_sent(&app, org).await;
    // Two more rounds of the worker: nothing is sent twice.
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0].recipients,
        vec!["it@contoso.example".to_owned()]
    );
    assert!(
        messages[0].data.contains("Northwind"),
        "{}",
        messages[0].data
    );
    let items = outbox(&app, org).await;
    assert_eq!(items[0]["attempts"], 1);
    assert!(items[0]["sent_at"].is_string());
}

#[tokio::test]
async fn delivery_survives_the_smtp_server_being_down() {
    // A port with nobody listening, then a server on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with_smtp(format!("smtp://127.0.0.1:{port}")).await;
    let org = request_to_an_organization(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    let items = outbox(&app, org).await;
    assert_eq!(items[0]["status"], "pending");
    assert!(items[0]["attempts"].as_i64().unwrap() >= 1);
    assert!(items[0]["last_error"].is_string());
    // The server comes back; once the back-off has passed the message goes out, once.
    let smtp = SmtpServer::start(port).await;
    app.advance(Duration::minutes(5));
    wait_until_sent(&app, org).await;
    assert_eq!(smtp.messages().len(), 1);
}

/// The outbox goes out over TLS: `smtps://` (TLS from the first byte) and
/// `smtp://…?tls=required` (STARTTLS), the server's certificate checked against the
/// authority in `SMTP_CA_FILE`, credentials only inside the TLS session.
#[tokio::test]
async fn the_outbox_is_delivered_over_tls_with_the_certificate_checked() {
    let pki = tests::tls::TestPki::new("SA Benefits test mail CA");
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_ca(dir.path());
    for starttls in [false, true] {
        let smtp = if starttls {
            SmtpServer::start_starttls(&pki).await
        } else {
            SmtpServer::start_implicit_tls(&pki).await
        };
        let url = if starttls {
            format!("smtp://mailer:s3cret@localhost:{}?tls=required", smtp.port)
        } else {
            format!("smtps://mailer:s3cret@localhost:{}", smtp.port)
        };
        let ca = ca.clone();
        let app = TestApp::spawn_configured(move |c| {
            c.smtp_url = Some(url);
            c.smtp_ca_file = Some(ca);
        })
        .await;
        let org = request_to_an_organization(&app).await;
        wait_until_sent(&app, org).await;
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1, "starttls {starttls}: {messages:?}");
        assert!(messages[0].tls, "starttls {starttls}: sent over TLS");
        assert!(
            messages[0].auth.is_some(),
            "starttls {starttls}: credentials given inside TLS"
        );
    }
}

/// A server whose certificate comes from another authority is not trusted: nothing is sent,
/// the notification waits with the reason.
#[tokio::test]
async fn a_mail_server_with_an_untrusted_certificate_gets_nothing() {
    let trusted = tests::tls::TestPki::new("the CA we trust");
    let other = tests::tls::TestPki::new("somebody else's CA");
    let dir = tempfile::tempdir().unwrap();
    let ca = trusted.write_ca(dir.path());
    let smtp = SmtpServer::start_implicit_tls(&other).await;
    let url = format!("smtps://localhost:{}", smtp.port);
    let app = TestApp::spawn_configured(move |c| {
        c.smtp_url = Some(url);
        c.smtp_ca_file = Some(ca);
    })
    .await;
    let org = request_to_an_organization(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    let items = outbox(&app, org).await;
    assert_eq!(items[0]["status"], "pending");
    assert!(items[0]["last_error"].is_string(), "{items:?}");
    assert!(smtp.messages().is_empty());
}

/// PRODUCT.md §5 and the guide: the Home Use Program's instructions tell the user to enter
/// the program code, so the e-mail carries the benefit's code; a type without one carries none.
#[tokio::test]
async fn hup_instructions_carry_the_benefits_code() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let admin = app.admin(org);
    let hup = app.grant(account, "home_use_program", Some(20)).await;
    let learning = app.grant(account, "e_learning", Some(5)).await;
    assert_eq!(
        add_domain(&app, account, &admin, "contoso.com")
            .await
            .status(),
        201
    );
    assert_eq!(
        add_user(&app, hup, &admin, "ana@contoso.com")
            .await
            .status(),
        201
    );
    assert_eq!(
        add_user(&app, learning, &admin, "li@contoso.com")
            .await
            .status(),
        201
    );
    let detail = body(app.get(&format!("/api/v1/benefits/{hup}"), &admin).await).await;
    let code = detail["identification"]["access_code"]
        .as_str()
        .expect("a HUP benefit has its code")
        .to_owned();
    let outbox = body(
        app.get(
            &format!("/api/v1/organizations/{org}/notifications"),
            &admin,
        )
        .await,
    )
    .await;
    let body_to = |to: &str| {
        outbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["recipient"] == to && n["template"] == "end_user_instructions")
            .unwrap_or_else(|| panic!("no instructions to {to} in {outbox}"))["body"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(body_to("ana@contoso.com").contains(&code));
    assert!(!body_to("li@contoso.com").contains("Your code"));
}
