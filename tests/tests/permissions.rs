//! Partner permissions: the request state machine, decisions with `If-Match`, expiry by
//! time, notifications and audit, and a matrix proving every mutating operation refuses a
//! partner without the right permission and changes nothing.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use tests::{assert_problem, body, id_of, TestApp};
use uuid::Uuid;

async fn org_with_contacts(app: &TestApp) -> Uuid {
    let r = app
        .post(
            "/api/v1/organizations",
            &app.operator(),
            &json!({"name": "Contoso", "contact_emails": ["it@contoso.example", "cio@contoso.example"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    id_of(r).await
}

#[tokio::test]
async fn a_partner_asks_and_the_organization_decides() {
    let app = TestApp::spawn().await;
    let org = org_with_contacts(&app).await;
    let other_org = app.create_org("Fabrikam Inc").await;
    let partner = app.create_partner("Northwind").await;
    let admin = app.admin(org);

    // Only a partner asks; unknown scopes and past end dates are invalid input.
    for token in [admin.clone(), app.operator()] {
        let r = app
            .post(
                "/api/v1/partner-permissions",
                &token,
                &json!({"organization_id": org}),
            )
            .await;
        assert_problem(r, 403, "forbidden").await;
    }
    let r = app
        .post(
            "/api/v1/partner-permissions",
            &app.partner(partner),
            &json!({"organization_id": org, "scopes": ["manage_users", "fly"]}),
        )
        .await;
    let problem = assert_problem(r, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "scopes[1]");
    let r = app
        .post(
            "/api/v1/partner-permissions",
            &app.partner(partner),
            &json!({"organization_id": org, "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_problem(r, 400, "validation_failed").await;
    let r = app
        .post(
            "/api/v1/partner-permissions",
            &app.partner(partner),
            &json!({"organization_id": Uuid::new_v4()}),
        )
        .await;
    assert_problem(r, 404, "not_found").await;

    let id = app
        .request_permission(
            org,
            partner,
            Some(&["manage_users", "manage_domains"]),
            None,
        )
        .await;
    let path = format!("/api/v1/partner-permissions/{id}");
    let r = app.get(&path, &admin).await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let p = body(r).await;
    assert_eq!(p["status"], "pending");
    assert_eq!(p["scopes"], json!(["manage_domains", "manage_users"]));
    assert!(p["answer_by"].is_string());

    // Visible to the parties only.
    for token in [app.admin(other_org), app.partner(Uuid::new_v4())] {
        assert_problem(app.get(&path, &token).await, 404, "not_found").await;
    }
    // One live permission per partner and organization.
    let r = app
        .post(
            "/api/v1/partner-permissions",
            &app.partner(partner),
            &json!({"organization_id": org}),
        )
        .await;
    let problem = assert_problem(r, 409, "permission_exists").await;
    assert_eq!(problem["context"]["existing_permission_id"], id.to_string());

    // A partner never decides; an admin never withdraws; an operator never moves.
    let r = app
        .move_permission(id, &app.partner(partner), "approved")
        .await;
    assert_problem(r, 403, "forbidden_transition").await;
    let r = app.move_permission(id, &admin, "withdrawn").await;
    assert_problem(r, 403, "forbidden_transition").await;
    let r = app.move_permission(id, &app.operator(), "approved").await;
    assert_problem(r, 403, "forbidden_transition").await;
    let r = app.move_permission(id, &admin, "expired").await;
    assert_problem(r, 400, "validation_failed").await;
    // Another organization's admin cannot even see it.
    let r = app
        .move_permission(id, &app.admin(other_org), "approved")
        .await;
    assert_problem(r, 404, "not_found").await;

    // If-Match: a stale tag is refused, the current one accepted.
    let r = app
        .request(Method::PATCH, &path, &admin)
        .header("If-Match", "\"999\"")
        .json(&json!({"status": "approved"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 412, "precondition_failed").await;
    let r = app
        .request(Method::PATCH, &path, &admin)
        .header("If-Match", &etag)
        .json(&json!({"status": "approved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(body(r).await["status"], "approved");

    // From approved only removal is possible, and the error says so.
    let r = app.move_permission(id, &admin, "declined").await;
    let problem = assert_problem(r, 409, "invalid_transition").await;
    assert_eq!(problem["context"]["current_status"], "approved");
    assert_eq!(
        problem["context"]["allowed"],
        json!([{"status": "removed", "by": "customer_admin"}])
    );
    let r = app
        .move_permission(id, &app.partner(partner), "withdrawn")
        .await;
    assert_problem(r, 409, "invalid_transition").await;

    // The partner now acts on the organization and lists it.
    assert_eq!(
        app.get(
            &format!("/api/v1/organizations/{org}"),
            &app.partner(partner)
        )
        .await
        .status(),
        200
    );
    let mine = body(
        app.get("/api/v1/partners/me/organizations", &app.partner(partner))
            .await,
    )
    .await;
    assert_eq!(mine["items"][0]["organization"]["id"], org.to_string());
    assert_eq!(mine["items"][0]["permission"]["id"], id.to_string());

    // Removal takes effect on the next call.
    assert_eq!(
        app.move_permission(id, &admin, "removed").await.status(),
        200
    );
    assert_problem(
        app.get(
            &format!("/api/v1/organizations/{org}"),
            &app.partner(partner),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let mine = body(
        app.get("/api/v1/partners/me/organizations", &app.partner(partner))
            .await,
    )
    .await;
    assert_eq!(mine["items"], json!([]));
    let r = app.move_permission(id, &admin, "approved").await;
    let problem = assert_problem(r, 409, "invalid_transition").await;
    assert_eq!(problem["context"]["allowed"], json!([]));

    // Every move is kept.
    let history = body(
        app.get(&format!("{path}/history"), &app.partner(partner))
            .await,
    )
    .await;
    let moves: Vec<(Value, Value, Value)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone(), e["by"].clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (Value::Null, json!("pending"), json!("partner")),
            (json!("pending"), json!("approved"), json!("customer_admin")),
            (json!("approved"), json!("removed"), json!("customer_admin")),
        ]
    );

    // After removal the partner may ask again.
    let again = app.request_permission(org, partner, None, None).await;
    assert_ne!(again, id);

    // Notifications: the request to both contacts (twice), the decisions to the partner.
    let outbox = body(
        app.get(
            &format!("/api/v1/organizations/{org}/notifications"),
            &admin,
        )
        .await,
    )
    .await;
    let mut sent: Vec<(String, String)> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            assert_eq!(n["status"], "pending");
            (
                n["template"].as_str().unwrap().to_owned(),
                n["recipient"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        vec![
            (
                "permission_approved".into(),
                "licensing@partner.example".into()
            ),
            (
                "permission_removed".into(),
                "licensing@partner.example".into()
            ),
            ("permission_requested".into(), "cio@contoso.example".into()),
            ("permission_requested".into(), "cio@contoso.example".into()),
            ("permission_requested".into(), "it@contoso.example".into()),
            ("permission_requested".into(), "it@contoso.example".into()),
        ]
    );
    // The outbox and the audit log are for the organization's admins and operators.
    for token in [app.partner(partner), app.admin(other_org)] {
        let r = app
            .get(
                &format!("/api/v1/organizations/{org}/notifications"),
                &token,
            )
            .await;
        assert!(matches!(r.status().as_u16(), 403 | 404));
    }

    // Audit: who did each move, newest first.
    let audit = body(
        app.get(
            &format!("/api/v1/organizations/{org}/audit-events"),
            &app.operator(),
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
    assert_eq!(
        actions,
        vec![
            "permission_requested",
            "permission_removed",
            "permission_approved",
            "permission_requested",
            "organization_created",
        ]
    );
    assert_eq!(
        audit["items"][0]["actor"]["partner_id"],
        partner.to_string()
    );
    assert_eq!(audit["items"][1]["actor"]["role"], "customer_admin");
}

#[tokio::test]
async fn a_partner_withdraws_and_the_admin_declines() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let (p1, p2) = (
        app.create_partner("Northwind").await,
        app.create_partner("Litware").await,
    );
    let first = app.request_permission(org, p1, None, None).await;
    let second = app.request_permission(org, p2, None, None).await;
    // Another partner cannot withdraw someone else's request: it does not see it.
    let r = app
        .move_permission(first, &app.partner(p2), "withdrawn")
        .await;
    assert_problem(r, 404, "not_found").await;
    let r = app
        .move_permission(first, &app.partner(p1), "withdrawn")
        .await;
    assert_eq!(body(r).await["status"], "withdrawn");
    let r = app
        .move_permission(second, &app.admin(org), "declined")
        .await;
    assert_eq!(body(r).await["status"], "declined");
    let r = app
        .move_permission(first, &app.admin(org), "approved")
        .await;
    let problem = assert_problem(r, 409, "invalid_transition").await;
    assert_eq!(problem["context"]["current_status"], "withdrawn");

    // The "partner-managed benefits" page filters by status.
    let page = |status: &'static str| {
        let app = &app;
        async move {
            body(
                app.get(
                    &format!("/api/v1/organizations/{org}/partner-permissions?status={status}"),
                    &app.admin(org),
                )
                .await,
            )
            .await["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page("withdrawn").await, vec![first.to_string()]);
    assert_eq!(page("declined").await, vec![second.to_string()]);
    assert!(page("pending").await.is_empty());
    let r = app
        .get(
            &format!("/api/v1/organizations/{org}/partner-permissions?status=maybe"),
            &app.admin(org),
        )
        .await;
    assert_problem(r, 400, "validation_failed").await;
    // Partners do not read the organization's page; they read their own.
    let r = app
        .get(
            &format!("/api/v1/organizations/{org}/partner-permissions"),
            &app.partner(p1),
        )
        .await;
    assert_problem(r, 403, "forbidden").await;
    let mine = body(
        app.get("/api/v1/partners/me/permissions", &app.partner(p1))
            .await,
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["status"], "withdrawn");
    let r = app
        .get("/api/v1/partners/me/permissions", &app.admin(org))
        .await;
    assert_problem(r, 403, "forbidden").await;
    // Pagination over the organization's page.
    let first_page = body(
        app.get(
            &format!("/api/v1/organizations/{org}/partner-permissions?limit=1"),
            &app.operator(),
        )
        .await,
    )
    .await;
    assert_eq!(first_page["items"].as_array().unwrap().len(), 1);
    let cursor = first_page["next_cursor"].as_str().unwrap();
    let second_page = body(
        app.get(
            &format!("/api/v1/organizations/{org}/partner-permissions?limit=1&cursor={cursor}"),
            &app.operator(),
        )
        .await,
    )
    .await;
    assert_eq!(second_page["items"][0]["id"], second.to_string());
    assert!(second_page["next_cursor"].is_null());
}

#[tokio::test]
async fn an_approved_permission_expires_at_its_end_date() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let partner = app.create_partner("Northwind").await;
    let end = Utc::now() + Duration::seconds(2);
    let id = app.request_permission(org, partner, None, Some(end)).await;
    assert_eq!(
        app.move_permission(id, &app.admin(org), "approved")
            .await
            .status(),
        200
    );
    let read = |token: String| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/organizations/{org}"), &token)
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(read(app.partner(partner)).await, 200);
    let wait = (end - Utc::now()).num_milliseconds().max(0) as u64 + 300;
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    assert_eq!(read(app.partner(partner)).await, 404);
    let p = body(
        app.get(
            &format!("/api/v1/partner-permissions/{id}"),
            &app.admin(org),
        )
        .await,
    )
    .await;
    assert_eq!(p["status"], "expired");
    let history = body(
        app.get(
            &format!("/api/v1/partner-permissions/{id}/history"),
            &app.admin(org),
        )
        .await,
    )
    .await;
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["to"].as_str(), last["by"].as_str()),
        (Some("expired"), Some("time"))
    );
    let r = app.move_permission(id, &app.admin(org), "removed").await;
    assert_problem(r, 409, "invalid_transition").await;
    let expired = body(
        app.get(
            &format!("/api/v1/organizations/{org}/partner-permissions?status=expired"),
            &app.admin(org),
        )
        .await,
    )
    .await;
    assert_eq!(expired["items"][0]["id"], id.to_string());
    // An expired permission is not live: the partner may ask again, and the expiry is
    // recorded in the history once.
    app.request_permission(org, partner, None, None).await;
    let history = body(
        app.get(
            &format!("/api/v1/partner-permissions/{id}/history"),
            &app.admin(org),
        )
        .await,
    )
    .await;
    let expiries = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "expired")
        .count();
    assert_eq!(expiries, 1);
}

#[tokio::test]
async fn concurrent_requests_leave_one_live_permission() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let partner = app.create_partner("Northwind").await;
    let token = app.partner(partner);
    let request = json!({"organization_id": org});
    let attempts = (0..16).map(|_| app.post("/api/v1/partner-permissions", &token, &request));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_unanswered_request_expires_after_90_days() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let partner = app.create_partner("Northwind").await;
    let id = app.request_permission(org, partner, None, None).await;
    let listed = |status: &'static str| {
        let app = &app;
        async move {
            body(
                app.get(
                    &format!("/api/v1/organizations/{org}/partner-permissions?status={status}"),
                    &app.admin(org),
                )
                .await,
            )
            .await["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    app.advance(Duration::days(89));
    assert_eq!((listed("pending").await, listed("expired").await), (1, 0));
    app.advance(Duration::days(2));
    // Read as expired at once, in the lists too, before any sweep.
    assert_eq!((listed("pending").await, listed("expired").await), (0, 1));
    let p = body(
        app.get(
            &format!("/api/v1/partner-permissions/{id}"),
            &app.admin(org),
        )
        .await,
    )
    .await;
    assert_eq!(p["status"], "expired");
    assert!(p["answer_by"].is_null());
    let r = app.move_permission(id, &app.admin(org), "approved").await;
    assert_problem(r, 409, "invalid_transition").await;
    // The sweeper records the move of time, once; the partner may ask again.
    app.run_maintenance().await;
    app.run_maintenance().await;
    let history = body(
        app.get(
            &format!("/api/v1/partner-permissions/{id}/history"),
            &app.partner(partner),
        )
        .await,
    )
    .await;
    let moves: Vec<(Value, Value)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["to"].clone(), e["by"].clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (json!("pending"), json!("partner")),
            (json!("expired"), json!("time")),
        ]
    );
    app.request_permission(org, partner, None, None).await;
}

/// A declined request is mailed to the partner; a withdrawal to the organization's contacts,
/// in its language, with the scopes named in that language too.
#[tokio::test]
async fn a_declined_request_is_mailed_to_the_partner_and_a_withdrawal_to_the_organization() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let r = app
        .patch(
            &format!("/api/v1/organizations/{org}"),
            &app.admin(org),
            &json!({"contact_emails": ["it@contoso.example"], "preferred_language": "fr"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (declined, withdrawn) = (
        app.create_partner("Northwind").await,
        app.create_partner("Litware").await,
    );
    let first = app.request_permission(org, declined, None, None).await;
    let second = app.request_permission(org, withdrawn, None, None).await;
    assert_eq!(
        app.move_permission(first, &app.admin(org), "declined")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.move_permission(second, &app.partner(withdrawn), "withdrawn")
            .await
            .status(),
        200
    );
    let outbox = body(
        app.get(
            &format!("/api/v1/organizations/{org}/notifications"),
            &app.operator(),
        )
        .await,
    )
    .await;
    let sent: Vec<(&str, &str, &str)> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["template"].as_str().unwrap(),
                n["recipient"].as_str().unwrap(),
                n["language"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("permission_declined", "licensing@partner.example", "en"),
        ("permission_withdrawn", "it@contoso.example", "fr"),
        ("permission_requested", "it@contoso.example", "fr"),
    ] {
        assert!(sent.contains(&expected), "{expected:?} in {sent:?}");
    }
    let request = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["template"] == "permission_requested")
        .unwrap();
    assert!(
        request["body"]
            .as_str()
            .unwrap()
            .contains("Gérer les utilisateurs"),
        "scopes in French: {}",
        request["body"]
    );
}

/// A permission names its partner and organization, says its status in the reader's
/// language, lists the moves the reader may make now, and a decision answers in a sentence.
#[tokio::test]
async fn a_permission_reads_as_the_partner_page_shows_it() {
    let app = TestApp::spawn_with_demo().await;
    let admin = app.admin(api::demo::DEMO_ORG.as_uuid());
    let northwind = app.partner(api::demo::PENDING_PARTNER.as_uuid());
    let path = format!(
        "/api/v1/partner-permissions/{}",
        api::demo::PENDING_PERMISSION
    );
    let read = |token: String, language: &'static str| {
        let (app, path) = (&app, path.clone());
        async move {
            let r = app
                .request(Method::GET, &path, &token)
                .header("accept-language", language)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let seen = read(admin.clone(), "en").await;
    assert_eq!(seen["partner"]["name"], "Northwind Advisors");
    assert_eq!(
        seen["partner"]["contact_email"],
        "partners@northwindadvisors.com"
    );
    assert_eq!(seen["organization"]["name"], "Contoso Ltd");
    assert_eq!(seen["status_label"], "Pending");
    assert_eq!(seen["allowed_moves"], json!(["approved", "declined"]));
    let french = read(admin.clone(), "fr").await;
    assert_eq!(french["status_label"], "En attente");
    let by_partner = read(northwind.clone(), "en").await;
    assert_eq!(by_partner["allowed_moves"], json!(["withdrawn"]));

    let decided = app
        .request(Method::PATCH, &path, &admin)
        .header("accept-language", "fr")
        .json(&json!({"status": "approved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 200);
    let decided: Value = decided.json().await.unwrap();
    assert_eq!(decided["status_label"], "Approuvée");
    assert_eq!(decided["allowed_moves"], json!(["removed"]));
    assert!(
        decided["message"]
            .as_str()
            .unwrap()
            .contains("Northwind Advisors peut désormais gérer les avantages de Contoso Ltd"),
        "{decided}"
    );
    assert_eq!(read(northwind, "en").await["allowed_moves"], json!([]));
    // The organization's list names the partners too.
    let list = tests::body(
        app.get(
            &format!(
                "/api/v1/organizations/{}/partner-permissions",
                api::demo::DEMO_ORG
            ),
            &admin,
        )
        .await,
    )
    .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partner"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Fabrikam Licensing Services") && names.contains(&"Northwind Advisors")
    );
}

/// Each e-mail goes out in its recipient's language, not in the language of the request that
/// caused it.
#[tokio::test]
async fn e_mails_are_written_in_their_recipients_language() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let admin = app.admin(org);
    let r = app
        .patch(
            &format!("/api/v1/organizations/{org}"),
            &admin,
            &json!({"contact_emails": ["it@contoso.example"], "preferred_language": "fr"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let partner = app.create_partner("Fabrikam").await;
    let r = app
        .patch(
            &format!("/api/v1/partners/{partner}"),
            &app.operator(),
            &json!({"preferred_language": "en"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The partner asks in English; the organization reads French.
    let permission = app.request_permission(org, partner, None, None).await;
    // The administrator decides in French; the partner reads English.
    let decided = app
        .request(
            Method::PATCH,
            &format!("/api/v1/partner-permissions/{permission}"),
            &admin,
        )
        .header("accept-language", "fr")
        .json(&json!({"status": "approved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 200);
    let outbox = body(
        app.get(
            &format!("/api/v1/organizations/{org}/notifications"),
            &admin,
        )
        .await,
    )
    .await;
    let language_of = |template: &str| {
        outbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["template"] == template)
            .map(|n| n["language"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {template} in {outbox}"))
    };
    assert_eq!(language_of("permission_requested"), "fr");
    assert_eq!(language_of("permission_approved"), "en");
}

/// PRODUCT.md §8: an expired permission tells both sides, and a side with nobody to write to
/// still gets its notification recorded, with status `no_recipient`.
#[tokio::test]
async fn an_expired_permission_tells_both_sides_and_nobody_is_recorded_as_such() {
    let app = TestApp::spawn().await;
    // No contact e-mails: the organization's side has nobody to write to.
    let org = app.create_org("Contoso").await;
    let partner = app.create_partner("Fabrikam").await;
    let end = Utc::now() + Duration::days(10);
    let id = app.request_permission(org, partner, None, Some(end)).await;
    let r = app.move_permission(id, &app.admin(org), "approved").await;
    assert_eq!(r.status(), 200);
    app.advance(Duration::days(11));
    app.run_maintenance().await;
    app.run_maintenance().await;
    let outbox = body(
        app.get(
            &format!("/api/v1/organizations/{org}/notifications"),
            &app.admin(org),
        )
        .await,
    )
    .await;
    let mut seen: Vec<(String, Value, String)> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["template"].as_str().unwrap().to_owned(),
                n["recipient"].clone(),
                n["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort_by_key(|a| (a.0.clone(), a.1.to_string()));
    assert_eq!(
        seen,
        vec![
            (
                "permission_approved".into(),
                json!("licensing@partner.example"),
                "pending".into()
            ),
            (
                "permission_expired".into(),
                json!("licensing@partner.example"),
                "pending".into()
            ),
            (
                "permission_expired".into(),
                Value::Null,
                "no_recipient".into()
            ),
            (
                "permission_requested".into(),
                Value::Null,
                "no_recipient".into()
            ),
        ],
        "{outbox}"
    );
}

#[tokio::test]
async fn the_demo_fills_the_partner_page_and_the_ledger_screens() {
    let app = TestApp::spawn_with_demo().await;
    let org = api::demo::DEMO_ORG.as_uuid();
    let admin = app.admin(org);
    let list = body(
        app.get(
            &format!("/api/v1/organizations/{org}/partner-permissions?limit=50"),
            &admin,
        )
        .await,
    )
    .await;
    let mut states: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    states.sort_unstable();
    assert_eq!(states, vec!["approved", "declined", "pending", "removed"]);
    // The outbox shows an e-mail delivered, one waiting and one given up on.
    let outbox = body(
        app.get(
            &format!("/api/v1/organizations/{org}/notifications?limit=100"),
            &admin,
        )
        .await,
    )
    .await;
    let delivery: Vec<&str> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    for status in ["sent", "pending", "failed"] {
        assert!(
            delivery.contains(&status),
            "{status} missing from {delivery:?}"
        );
    }
    // Incidents opened on the phone support, a true-up of the web support, a download.
    for (code, kind) in [
        ("problem_resolution_phone", "consumption"),
        ("problem_resolution_web", "adjustment"),
        ("multi_language_pack", "consumption"),
    ] {
        let benefits = body(
            app.get(
                &format!("/api/v1/accounts/{}/benefits", api::demo::DEMO_ACCOUNT),
                &admin,
            )
            .await,
        )
        .await;
        let id = benefits["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == code)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let history = body(
            app.get(&format!("/api/v1/benefits/{id}/transactions"), &admin)
                .await,
        )
        .await;
        assert!(
            history["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["kind"] == kind),
            "{code}: {history}"
        );
        tests::ledger_agrees(&app, Uuid::parse_str(&id).unwrap()).await;
    }
}

/// The `?status=` filter of the permission lists is SQL, a copy of `Permission::status_at`
/// (the 90-day pending expiry, the end date): at many instants, lapsed rows recorded or not,
/// every row a filter lists has that status by the domain's rule, and the six filters
/// together list each permission exactly once.
#[tokio::test]
async fn the_status_filter_agrees_with_the_domains_status_at_every_instant() {
    use std::collections::HashMap;
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let admin = app.admin(org);
    let mut all = Vec::new();
    // pending; approved for 2 days; approved for 10 days; approved with no end; then declined,
    // withdrawn, removed.
    let ends = [None, Some(2), Some(10), None];
    for (n, end) in ends.iter().enumerate() {
        let p = app.create_partner(&format!("Partner {n}")).await;
        let expires = end.map(|d| Utc::now() + Duration::days(d) + Duration::hours(1));
        let id = app.request_permission(org, p, None, expires).await;
        if n > 0 {
            let r = app.move_permission(id, &admin, "approved").await;
            assert_eq!(r.status(), 200);
        }
        all.push(id);
    }
    for (n, (status, by_partner)) in [("declined", false), ("withdrawn", true), ("removed", false)]
        .into_iter()
        .enumerate()
    {
        let p = app.create_partner(&format!("Partner {}", 10 + n)).await;
        let id = app.request_permission(org, p, None, None).await;
        if status == "removed" {
            assert_eq!(
                app.move_permission(id, &admin, "approved").await.status(),
                200
            );
        }
        let token = if by_partner {
            app.partner(p)
        } else {
            admin.clone()
        };
        assert_eq!(app.move_permission(id, &token, status).await.status(), 200);
        all.push(id);
    }
    let statuses = [
        "pending",
        "approved",
        "declined",
        "withdrawn",
        "removed",
        "expired",
    ];
    let mut shifted = Duration::zero();
    for (step, maintain) in [
        (Duration::zero(), false),
        (Duration::days(1), false),
        (Duration::days(2), false),
        (Duration::days(8), false),
        (Duration::days(8), true),
        (Duration::days(60), false),
        (Duration::days(20), false),
        (Duration::days(1), true),
    ] {
        app.advance(step);
        shifted += step;
        if maintain {
            app.run_maintenance().await;
        }
        let mut listed: HashMap<String, &str> = HashMap::new();
        for status in statuses {
            let page = body(
                app.get(
                    &format!(
                        "/api/v1/organizations/{org}/partner-permissions?status={status}&limit=200"
                    ),
                    &admin,
                )
                .await,
            )
            .await;
            for item in page["items"].as_array().unwrap() {
                assert_eq!(item["status"], status, "after {shifted}: {item}");
                let id = item["id"].as_str().unwrap().to_owned();
                assert!(
                    listed.insert(id, status).is_none(),
                    "listed twice after {shifted}"
                );
            }
        }
        assert_eq!(listed.len(), all.len(), "after {shifted}: {listed:?}");
    }
}
