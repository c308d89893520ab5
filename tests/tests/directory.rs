//! Organizations, purchasing accounts and partners: roles, isolation, validation, pagination.

use serde_json::{json, Value};
use tests::{assert_problem, body, id_of, TestApp};
use uuid::Uuid;

#[tokio::test]
async fn operators_create_organizations_that_only_their_admins_see() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/organizations",
            &app.operator(),
            &json!({"name": "  Contoso Ltd ", "contact_emails": ["IT@Contoso.COM"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "Contoso Ltd", "names are trimmed");
    assert_eq!(
        created["contact_emails"],
        json!(["IT@contoso.com"]),
        "domains are canonical"
    );
    let org = Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    assert_eq!(location, format!("/api/v1/organizations/{org}"));

    let mine = app.get(&location, &app.admin(org)).await;
    assert_eq!(mine.status(), 200);
    assert_eq!(mine.json::<Value>().await.unwrap(), created);
    assert_eq!(app.get(&location, &app.operator()).await.status(), 200);

    let foreign = assert_problem(
        app.get(&location, &app.admin(Uuid::new_v4())).await,
        404,
        "not_found",
    )
    .await;
    let missing = assert_problem(
        app.get(
            &format!("/api/v1/organizations/{}", Uuid::new_v4()),
            &app.operator(),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        foreign["detail"], missing["detail"],
        "a foreign organization looks exactly like a missing one"
    );
    assert_problem(
        app.get(&location, &app.partner(Uuid::new_v4())).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn only_operators_create_directory_entries() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    for token in [app.admin(org), app.partner(Uuid::new_v4())] {
        assert_problem(
            app.post("/api/v1/organizations", &token, &json!({"name": "X"}))
                .await,
            403,
            "forbidden",
        )
        .await;
        assert_problem(
            app.post("/api/v1/partners", &token, &json!({"name": "X"}))
                .await,
            403,
            "forbidden",
        )
        .await;
        assert_problem(
            app.post(
                &format!("/api/v1/organizations/{org}/accounts"),
                &token,
                &json!({"name": "X"}),
            )
            .await,
            403,
            "forbidden",
        )
        .await;
    }
    let accounts: Value = app
        .get(
            &format!("/api/v1/organizations/{org}/accounts"),
            &app.operator(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["items"], json!([]), "nothing was created");
}

#[tokio::test]
async fn invalid_bodies_list_every_invalid_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/organizations",
            &app.operator(),
            &json!({"name": " ", "contact_emails": ["ok@contoso.com", "not-an-email"]}),
        )
        .await;
    let body = assert_problem(r, 400, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["name", "contact_emails[1]"]);

    let org = app.create_org("Contoso").await;
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/accounts"),
            &app.operator(),
            &json!({"name": "EMEA", "sa_id": "has spaces"}),
        )
        .await;
    let body = assert_problem(r, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "sa_id");
    let r = app
        .post(
            "/api/v1/partners",
            &app.operator(),
            &json!({"name": "Fabrikam", "contact_email": "@fabrikam.com"}),
        )
        .await;
    assert_problem(r, 400, "validation_failed").await;
    let r = app
        .post(
            "/api/v1/partners",
            &app.operator(),
            &json!({"name": "Fabrikam", "unexpected": 1}),
        )
        .await;
    assert_problem(r, 400, "invalid_body").await;
    let accounts: Value = app
        .get(
            &format!("/api/v1/organizations/{org}/accounts"),
            &app.operator(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["items"], json!([]));
}

#[tokio::test]
async fn accounts_are_listed_page_by_page() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(app.create_account(org, &format!("Account {i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/organizations/{org}/accounts?limit=2&cursor={c}"),
            None => format!("/api/v1/organizations/{org}/accounts?limit=2"),
        };
        let page: Value = app.get(&path, &app.admin(org)).await.json().await.unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["organization_id"], org.to_string());
            seen.push(Uuid::parse_str(item["id"].as_str().unwrap()).unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "every account once, oldest first");
    let bad = app
        .get(
            &format!("/api/v1/organizations/{org}/accounts?limit=0"),
            &app.admin(org),
        )
        .await;
    assert_eq!(
        assert_problem(bad, 400, "validation_failed").await["errors"][0]["field"],
        "limit"
    );
    let bad = app
        .get(
            &format!("/api/v1/organizations/{org}/accounts?limit=201"),
            &app.admin(org),
        )
        .await;
    assert_problem(bad, 400, "validation_failed").await;
    let bad = app
        .get(
            &format!("/api/v1/organizations/{org}/accounts?cursor=garbage"),
            &app.admin(org),
        )
        .await;
    assert_eq!(
        assert_problem(bad, 400, "validation_failed").await["errors"][0]["field"],
        "cursor"
    );
    let bad = app
        .get(
            &format!("/api/v1/organizations/{org}/accounts?limit=abc"),
            &app.admin(org),
        )
        .await;
    assert_problem(bad, 400, "invalid_query").await;
}

#[tokio::test]
async fn accounts_need_an_existing_organization() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            &format!("/api/v1/organizations/{}/accounts", Uuid::new_v4()),
            &app.operator(),
            &json!({"name": "EMEA"}),
        )
        .await;
    assert_problem(r, 404, "not_found").await;
    let foreign = app.create_org("Woodgrove").await;
    let mine = app.create_org("Contoso").await;
    let r = app
        .get(
            &format!("/api/v1/organizations/{foreign}/accounts"),
            &app.admin(mine),
        )
        .await;
    assert_problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn partners_are_created_by_operators() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/partners",
            &app.operator(),
            &json!({"name": "Fabrikam", "contact_email": "licensing@fabrikam.com"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    id_of(r).await;
}

#[tokio::test]
async fn a_partner_with_an_approved_permission_reads_the_organization_and_a_pending_one_does_not() {
    let app = TestApp::spawn_with_demo().await;
    let org = api::demo::DEMO_ORG.as_uuid();
    let approved = app.partner(api::demo::DEMO_PARTNER.as_uuid());
    let pending = app.partner(api::demo::PENDING_PARTNER.as_uuid());
    assert_eq!(
        app.get(&format!("/api/v1/organizations/{org}"), &approved)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(&format!("/api/v1/organizations/{org}/accounts"), &approved)
            .await
            .status(),
        200
    );
    assert_problem(
        app.get(&format!("/api/v1/organizations/{org}"), &pending)
            .await,
        404,
        "not_found",
    )
    .await;
    let other = api::demo::OTHER_ORG.as_uuid();
    assert_problem(
        app.get(&format!("/api/v1/organizations/{other}"), &approved)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.post("/api/v1/organizations", &approved, &json!({"name": "X"}))
            .await,
        403,
        "forbidden",
    )
    .await;
}

/// `GET /me` tells a front end who the token is, with the name of its organization or partner.
#[tokio::test]
async fn me_names_the_caller_and_its_organization_or_partner() {
    let app = TestApp::spawn_with_demo().await;
    let me = |token: String| {
        let app = &app;
        async move { body(app.get("/api/v1/me", &token).await).await }
    };
    let admin = me(app.admin(api::demo::DEMO_ORG.as_uuid())).await;
    assert_eq!(admin["role"], "customer_admin");
    assert_eq!(admin["organization"]["name"], "Contoso Ltd");
    assert!(admin.get("partner").is_none());
    let partner = me(app.partner(api::demo::DEMO_PARTNER.as_uuid())).await;
    assert_eq!(partner["role"], "partner");
    assert_eq!(partner["partner"]["name"], "Fabrikam Licensing Services");
    let operator = me(app.operator()).await;
    assert_eq!(operator["role"], "operator");
    assert!(operator.get("organization").is_none() && operator.get("partner").is_none());
    let stranger = me(app.admin(Uuid::new_v4())).await;
    assert!(stranger["organization"]["name"].is_null(), "{stranger}");
    let anonymous = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401, "missing_token").await;
}

/// An organization's administrators change its contact e-mails and language; nobody else.
#[tokio::test]
async fn administrators_change_their_organizations_settings() {
    let app = TestApp::spawn_with_demo().await;
    let org = api::demo::DEMO_ORG.as_uuid();
    let path = format!("/api/v1/organizations/{org}");
    let admin = app.admin(org);
    let r = app
        .patch(
            &path,
            &admin,
            &json!({"contact_emails": ["licences@contoso.com"], "preferred_language": "fr"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let changed = body(r).await;
    assert_eq!(changed["contact_emails"], json!(["licences@contoso.com"]));
    assert_eq!(changed["preferred_language"], "fr");
    assert_eq!(
        body(app.get(&path, &admin).await).await["preferred_language"],
        "fr"
    );
    // Bad input changes nothing.
    for bad in [
        json!({"preferred_language": "de"}),
        json!({"contact_emails": []}),
        json!({"contact_emails": ["not an address"]}),
    ] {
        assert_problem(
            app.patch(&path, &admin, &bad).await,
            400,
            "validation_failed",
        )
        .await;
    }
    assert_eq!(
        body(app.get(&path, &admin).await).await["contact_emails"],
        json!(["licences@contoso.com"])
    );
    // Another organization's admin: not found; a partner: forbidden.
    let stranger = app.admin(api::demo::OTHER_ORG.as_uuid());
    assert_problem(
        app.patch(&path, &stranger, &json!({"preferred_language": "en"}))
            .await,
        404,
        "not_found",
    )
    .await;
    let partner = app.partner(api::demo::DEMO_PARTNER.as_uuid());
    assert_eq!(
        app.patch(&path, &partner, &json!({"preferred_language": "en"}))
            .await
            .status(),
        403
    );
}

/// A partner is read by operators, itself and the admins of organizations it asked, and
/// changed by itself and operators.
#[tokio::test]
async fn partners_are_seen_by_whom_they_asked_and_changed_by_themselves() {
    let app = TestApp::spawn_with_demo().await;
    let fabrikam = api::demo::DEMO_PARTNER.as_uuid();
    let path = format!("/api/v1/partners/{fabrikam}");
    let seen = body(
        app.get(&path, &app.admin(api::demo::DEMO_ORG.as_uuid()))
            .await,
    )
    .await;
    assert_eq!(seen["name"], "Fabrikam Licensing Services");
    assert_eq!(seen["contact_email"], "licensing@fabrikam.com");
    assert_eq!(app.get(&path, &app.operator()).await.status(), 200);
    assert_eq!(app.get(&path, &app.partner(fabrikam)).await.status(), 200);
    // Woodgrove was never asked by Fabrikam; Northwind is another partner.
    assert_problem(
        app.get(&path, &app.admin(api::demo::OTHER_ORG.as_uuid()))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(&path, &app.partner(api::demo::PENDING_PARTNER.as_uuid()))
            .await,
        404,
        "not_found",
    )
    .await;
    let changed = app
        .patch(
            &path,
            &app.partner(fabrikam),
            &json!({"contact_email": "alliances@fabrikam.com", "preferred_language": "fr"}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let changed = body(changed).await;
    assert_eq!(changed["contact_email"], "alliances@fabrikam.com");
    assert_eq!(changed["preferred_language"], "fr");
    for who in [
        app.partner(api::demo::PENDING_PARTNER.as_uuid()),
        app.admin(api::demo::DEMO_ORG.as_uuid()),
    ] {
        assert_eq!(
            app.patch(&path, &who, &json!({"preferred_language": "en"}))
                .await
                .status(),
            403
        );
    }
    assert_problem(
        app.patch(&path, &app.operator(), &json!({"preferred_language": "xx"}))
            .await,
        400,
        "validation_failed",
    )
    .await;
}
