//! The use cases called directly, without HTTP: what a handler would call, on the server's
//! own state, with the refusal each rule gives and nothing changed by a refused one.

use chrono::Utc;
use domain::auth::{Principal, PrincipalKind};
use domain::ids::{BenefitId, OrganizationId, PartnerId};
use domain::permission::PermissionStatus;
use domain::values::{Quantity, Reason};
use tests::TestApp;
use uuid::Uuid;

fn admin(org: Uuid) -> Principal {
    Principal {
        subject: "admin@contoso.test".into(),
        kind: PrincipalKind::CustomerAdmin(OrganizationId(org)),
    }
}

fn change(quantity: i64) -> api::use_cases::ledger::Change {
    api::use_cases::ledger::Change::Consumption {
        quantity: Quantity::positive(quantity).unwrap(),
        reference: Some("INC-1".into()),
        note: None,
    }
}

fn record(
    app: &TestApp,
    who: &Principal,
    benefit: Uuid,
    asked: api::use_cases::ledger::Change,
) -> Result<domain::metering::LedgerEntry, api::error::ApiError> {
    use api::use_cases::ledger;
    let id = BenefitId(benefit);
    app.state.db.write(|tx| {
        let authorized = ledger::authorize(&app.state, tx, who, id, &asked)?;
        ledger::record(tx, authorized, asked.clone(), Utc::now())
    })
}

#[tokio::test]
async fn a_ledger_change_is_authorized_recorded_and_refused_without_http() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let benefit = app.grant(account, "planning_services", Some(5)).await;

    let entry = record(&app, &admin(org), benefit, change(3)).expect("recorded");
    assert_eq!((entry.amount, entry.after.map(|f| f.used)), (3, Some(3)));

    // Beyond what remains: the rule's refusal, its kind's status, its facts; nothing written.
    let refused = record(&app, &admin(org), benefit, change(3)).unwrap_err();
    assert_eq!(
        (refused.status.as_u16(), refused.code),
        (422, "not_enough_remaining")
    );
    assert_eq!(refused.context, Some(serde_json::json!({ "remaining": 2 })));
    // Another organization's administrator does not see the benefit.
    let stranger = admin(Uuid::new_v4());
    let hidden = record(&app, &stranger, benefit, change(1)).unwrap_err();
    assert_eq!(hidden.status.as_u16(), 404);
    // An adjustment is an operator's.
    let adjustment = api::use_cases::ledger::Change::Adjustment {
        delta: 5,
        reason: Reason::parse("True-up").unwrap(),
    };
    let forbidden = record(&app, &admin(org), benefit, adjustment).unwrap_err();
    assert_eq!(forbidden.status.as_u16(), 403);
    tests::ledger_agrees(&app, benefit).await;
    let b: serde_json::Value = app
        .get(&format!("/api/v1/benefits/{benefit}"), &app.operator())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["used"], 3, "{b}");
}

#[tokio::test]
async fn a_decision_follows_the_state_machine_without_http() {
    use api::use_cases::permissions::decide;
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let partner = app.create_partner("Fabrikam").await;
    let id = app.request_permission(org, partner, None, None).await;
    let as_partner = Principal {
        subject: "partner@fabrikam.test".into(),
        kind: PrincipalKind::Partner(PartnerId(partner)),
    };
    let db = &app.state.db;
    let now = Utc::now();

    // A partner never approves (403); an administrator does.
    let e = decide(db, &as_partner, id, PermissionStatus::Approved, None, now)
        .err()
        .unwrap();
    assert_eq!((e.status.as_u16(), e.code), (403, "forbidden_transition"));
    let decided = decide(db, &admin(org), id, PermissionStatus::Approved, None, now)
        .unwrap_or_else(|e| panic!("approved: {e}"));
    assert_eq!(decided.permission.status, PermissionStatus::Approved);
    assert_eq!(decided.organization.id, OrganizationId(org));
    assert_eq!(decided.partner.map(|p| p.id), Some(PartnerId(partner)));
    // Approved again: not a move from approved (409, with the allowed moves).
    let e = decide(db, &admin(org), id, PermissionStatus::Approved, None, now)
        .err()
        .unwrap();
    assert_eq!((e.status.as_u16(), e.code), (409, "invalid_transition"));
    let context = e.context.clone().unwrap();
    assert_eq!(context["current_status"], "approved");
    assert_eq!(context["allowed"][0]["status"], "removed");
    // Another organization's administrator does not see it.
    let e = decide(
        db,
        &admin(Uuid::new_v4()),
        id,
        PermissionStatus::Removed,
        None,
        now,
    )
    .err()
    .unwrap();
    assert_eq!(e.status.as_u16(), 404);
    // The audit line of the approval is there, once.
    let audit: serde_json::Value = app
        .get(
            &format!("/api/v1/organizations/{org}/audit-events"),
            &app.admin(org),
        )
        .await
        .json()
        .await
        .unwrap();
    let approvals = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "permission_approved")
        .count();
    assert_eq!(approvals, 1, "{audit}");
}
