//! The enforcement matrix: every mutating operation of the API, tried by callers who must
//! be refused — an administrator of another organization, a partner without a permission,
//! partners whose permission is pending, declined, withdrawn, removed or expired, a partner
//! approved without the operation's scope — is refused and changes nothing; with the right
//! scope a partner succeeds and the audit log records it on behalf of the organization.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use tests::TestApp;
use uuid::Uuid;

/// One mutating operation.
struct Operation {
    name: &'static str,
    method: Method,
    path: String,
    body: Value,
    /// The scope a partner needs; `None`: partners (and admins) may never do it.
    scope: Option<&'static str>,
}

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.expect("json")
}

struct World {
    org: Uuid,
    account: Uuid,
    benefits: Vec<Uuid>,
}

/// Everything a refused call could have changed, read as operator.
async fn snapshot(app: &TestApp, world: &World) -> Value {
    let op = app.operator();
    let mut parts = vec![];
    for b in &world.benefits {
        let benefit = json_of(app.get(&format!("/api/v1/benefits/{b}"), &op).await).await;
        let ledger = json_of(
            app.get(&format!("/api/v1/benefits/{b}/transactions?limit=200"), &op)
                .await,
        )
        .await;
        let vouchers = json_of(
            app.get(&format!("/api/v1/benefits/{b}/vouchers?limit=200"), &op)
                .await,
        )
        .await;
        parts.push(json!([
            benefit["quantity"],
            benefit["used"],
            ledger["items"],
            vouchers["items"]
        ]));
    }
    for path in [
        format!("/api/v1/accounts/{}/benefits", world.account),
        format!("/api/v1/accounts/{}/conversions?limit=200", world.account),
        format!("/api/v1/accounts/{}/domains?limit=200", world.account),
        format!("/api/v1/organizations/{}/accounts?limit=200", world.org),
        format!(
            "/api/v1/organizations/{}/partner-permissions?limit=200",
            world.org
        ),
        format!("/api/v1/organizations/{}/audit-events?limit=200", world.org),
        format!(
            "/api/v1/organizations/{}/notifications?limit=200",
            world.org
        ),
    ] {
        parts.push(json_of(app.get(&path, &op).await).await["items"].clone());
    }
    Value::Array(parts)
}

async fn call(app: &TestApp, op: &Operation, token: &str) -> reqwest::Response {
    let mut request = app.request(op.method.clone(), &op.path, token);
    if !op.body.is_null() {
        request = request.json(&op.body);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn every_mutating_operation_refuses_callers_without_the_right_permission() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let other_org = app.create_org("Fabrikam Inc").await;
    let account = app.create_account(org, "EMEA").await;
    let support = app
        .grant(account, "problem_resolution_phone", Some(50))
        .await;
    let training = app.grant(account, "training_vouchers", Some(60)).await;
    let planning = app.grant(account, "planning_services", Some(10)).await;
    let admin = app.admin(org);
    let assign = |days: i64| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let r = app
                .post(
                    &format!("/api/v1/benefits/{training}/vouchers"),
                    &admin,
                    &json!({"holder_email": "li.wei@contoso.com", "holder_name": "Li Wei", "course": "MS-102", "days": days}),
                )
                .await;
            assert_eq!(r.status(), 201);
            tests::id_of(r).await
        }
    };
    let (to_revoke, to_redeem) = (assign(2).await, assign(1).await);
    let hup = app.grant(account, "home_use_program", Some(10)).await;
    let thin = app.grant(account, "windows_thin_pc", Some(10)).await;
    for domain in ["contoso.com", "spare.example"] {
        let r = app
            .post(
                &format!("/api/v1/accounts/{account}/domains"),
                &admin,
                &json!({ "domain": domain }),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let r = app
        .post(
            &format!("/api/v1/benefits/{hup}/users"),
            &admin,
            &json!({"email": "ana@contoso.com", "display_name": "Ana"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let user = tests::id_of(r).await;

    // The partners, one per situation.
    let nobody = app.create_partner("No permission").await;
    let pending = app.create_partner("Pending").await;
    let pending_permission = app.request_permission(org, pending, None, None).await;
    let declined = app.create_partner("Declined").await;
    let id = app.request_permission(org, declined, None, None).await;
    assert_eq!(
        app.move_permission(id, &admin, "declined").await.status(),
        200
    );
    let withdrawn = app.create_partner("Withdrawn").await;
    let id = app.request_permission(org, withdrawn, None, None).await;
    assert_eq!(
        app.move_permission(id, &app.partner(withdrawn), "withdrawn")
            .await
            .status(),
        200
    );
    let removed = app.create_partner("Removed").await;
    let id = app.permit(org, removed, None).await;
    assert_eq!(
        app.move_permission(id, &admin, "removed").await.status(),
        200
    );
    let expired = app.create_partner("Expired").await;
    let id = app
        .request_permission(org, expired, None, Some(Utc::now() + Duration::days(1)))
        .await;
    assert_eq!(
        app.move_permission(id, &admin, "approved").await.status(),
        200
    );
    let full = app.create_partner("Full").await;
    app.permit(org, full, None).await;
    // The permission with every scope but the one needed, per scope.
    let all = [
        "manage_domains",
        "distribute_access_codes",
        "manage_users",
        "manage_vouchers",
        "downloads_and_product_keys",
        "convert_benefits",
        "manage_future_benefits",
    ];
    let mut lacking = std::collections::HashMap::new();
    for scope in [
        "manage_users",
        "manage_vouchers",
        "convert_benefits",
        "manage_domains",
        "distribute_access_codes",
        "downloads_and_product_keys",
    ] {
        let p = app.create_partner(&format!("Without {scope}")).await;
        let others: Vec<&str> = all.iter().copied().filter(|s| *s != scope).collect();
        app.permit(org, p, Some(&others)).await;
        lacking.insert(scope, p);
    }
    // A day later the expiring permission has lapsed.
    app.advance(Duration::days(2));

    let expires = (Utc::now() + Duration::days(300)).to_rfc3339();
    let operations = vec![
        Operation {
            name: "create organization",
            method: Method::POST,
            path: "/api/v1/organizations".into(),
            body: json!({"name": "X"}),
            scope: None,
        },
        Operation {
            name: "create account",
            method: Method::POST,
            path: format!("/api/v1/organizations/{org}/accounts"),
            body: json!({"name": "X"}),
            scope: None,
        },
        Operation {
            name: "create partner",
            method: Method::POST,
            path: "/api/v1/partners".into(),
            body: json!({"name": "X"}),
            scope: None,
        },
        Operation {
            name: "grant",
            method: Method::POST,
            path: format!("/api/v1/accounts/{account}/benefits"),
            body: json!({"type": "e_learning", "quantity": 5, "expires_at": expires}),
            scope: None,
        },
        Operation {
            name: "adjust",
            method: Method::POST,
            path: format!("/api/v1/benefits/{support}/adjustments"),
            body: json!({"quantity": 5, "reason": "true-up"}),
            scope: None,
        },
        Operation {
            name: "consume",
            method: Method::POST,
            path: format!("/api/v1/benefits/{support}/consumptions"),
            body: json!({"quantity": 1}),
            scope: Some("manage_users"),
        },
        Operation {
            name: "assign voucher",
            method: Method::POST,
            path: format!("/api/v1/benefits/{training}/vouchers"),
            body: json!({"holder_email": "sam@contoso.com", "holder_name": "Sam", "course": "SC-300", "days": 1}),
            scope: Some("manage_vouchers"),
        },
        Operation {
            name: "revoke voucher",
            method: Method::POST,
            path: format!("/api/v1/vouchers/{to_revoke}/revoke"),
            body: Value::Null,
            scope: Some("manage_vouchers"),
        },
        Operation {
            name: "redeem voucher",
            method: Method::POST,
            path: format!("/api/v1/vouchers/{to_redeem}/redeem"),
            body: Value::Null,
            scope: Some("manage_vouchers"),
        },
        Operation {
            name: "convert",
            method: Method::POST,
            path: format!("/api/v1/accounts/{account}/conversions"),
            body: json!({"direction": "forward", "planning_days": 1}),
            scope: Some("convert_benefits"),
        },
        Operation {
            name: "add domain",
            method: Method::POST,
            path: format!("/api/v1/accounts/{account}/domains"),
            body: json!({"domain": "fabrikam.com"}),
            scope: Some("manage_domains"),
        },
        Operation {
            name: "remove domain",
            method: Method::DELETE,
            path: format!("/api/v1/accounts/{account}/domains/spare.example"),
            body: Value::Null,
            scope: Some("manage_domains"),
        },
        Operation {
            name: "add user",
            method: Method::POST,
            path: format!("/api/v1/benefits/{hup}/users"),
            body: json!({"email": "li@contoso.com", "display_name": "Li"}),
            scope: Some("manage_users"),
        },
        Operation {
            name: "modify user",
            method: Method::PATCH,
            path: format!("/api/v1/benefits/{hup}/users/{user}"),
            body: json!({"display_name": "Ana L."}),
            scope: Some("manage_users"),
        },
        Operation {
            name: "resend instructions",
            method: Method::POST,
            path: format!("/api/v1/benefits/{hup}/users/{user}/resend-instructions"),
            body: Value::Null,
            scope: Some("manage_users"),
        },
        Operation {
            name: "distribute access code",
            method: Method::POST,
            path: format!("/api/v1/benefits/{hup}/users/{user}/access-code"),
            body: Value::Null,
            scope: Some("distribute_access_codes"),
        },
        Operation {
            name: "remove user",
            method: Method::DELETE,
            path: format!("/api/v1/benefits/{hup}/users/{user}"),
            body: Value::Null,
            scope: Some("manage_users"),
        },
        Operation {
            name: "record download",
            method: Method::POST,
            path: format!("/api/v1/benefits/{thin}/downloads"),
            body: json!({"software_id": "wtp-x86-en"}),
            scope: Some("downloads_and_product_keys"),
        },
        Operation {
            name: "view product keys (audited)",
            method: Method::GET,
            path: format!("/api/v1/benefits/{thin}/product-keys"),
            body: Value::Null,
            scope: Some("downloads_and_product_keys"),
        },
        // Deciding on another partner's request: only the organization's administrators.
        Operation {
            name: "approve a request",
            method: Method::PATCH,
            path: format!("/api/v1/partner-permissions/{pending_permission}"),
            body: json!({"status": "approved"}),
            scope: None,
        },
    ];
    let world = World {
        org,
        account,
        benefits: vec![support, training, planning, hup, thin],
    };

    for op in &operations {
        let before = snapshot(&app, &world).await;
        let org_scoped = op.path.contains(&org.to_string())
            || op.path.contains(&account.to_string())
            || op.path.contains("/benefits/")
            || op.path.contains("/vouchers/")
            || op.path.contains("/partner-permissions/");
        let mut refused: Vec<(String, String, u16)> = vec![(
            "admin of another organization".into(),
            app.admin(other_org),
            if op.scope.is_some() { 404 } else { 403 },
        )];
        for (who, partner) in [
            ("partner without permission", nobody),
            ("pending", pending),
            ("declined", declined),
            ("withdrawn", withdrawn),
            ("removed", removed),
            ("expired", expired),
        ] {
            let status = if op.scope.is_some() { 404 } else { 403 };
            refused.push((who.into(), app.partner(partner), status));
        }
        if let Some(scope) = op.scope {
            refused.push((
                format!("approved without {scope}"),
                app.partner(lacking[scope]),
                403,
            ));
        } else {
            refused.push(("approved with every scope".into(), app.partner(full), 403));
        }
        for (who, token, expected) in &refused {
            let r = call(&app, op, token).await;
            let status = r.status().as_u16();
            let problem = json_of(r).await;
            // Deciding on a permission: the partner that asked sees it but never decides
            // (403); everyone else here does not see it (404).
            let expected = match (op.path.contains("/partner-permissions/"), who.as_str()) {
                (true, "pending") => 403,
                (true, _) => 404,
                _ => *expected,
            };
            assert_eq!(status, expected, "{} as {who}: {problem}", op.name);
            if who.starts_with("approved without") {
                assert_eq!(problem["code"], "missing_scope", "{}", op.name);
                assert_eq!(problem["context"]["required_scope"], op.scope.unwrap());
            }
        }
        assert_eq!(
            snapshot(&app, &world).await,
            before,
            "{} changed something",
            op.name
        );

        // With the scope, the partner succeeds, on behalf of the organization.
        if let Some(_scope) = op.scope {
            assert!(org_scoped);
            let r = call(&app, op, &app.partner(full)).await;
            assert!(
                r.status().is_success(),
                "{} as the permitted partner: {}",
                op.name,
                r.status()
            );
            let audit = json_of(
                app.get(
                    &format!("/api/v1/organizations/{org}/audit-events?limit=1"),
                    &admin,
                )
                .await,
            )
            .await;
            let event = &audit["items"][0];
            assert_eq!(
                event["actor"]["partner_id"],
                full.to_string(),
                "{}",
                op.name
            );
            assert_eq!(event["on_behalf_of"], org.to_string(), "{}", op.name);
        }
    }
}
