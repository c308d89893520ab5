//! What the persistence tests share: a fresh database (PostgreSQL when TEST_DATABASE_URL is
//! set, else a SQLite file in `dir`) and a purchasing account to hold benefits. Each test
//! binary uses a part of it.
#![allow(dead_code)]

use chrono::Utc;
use domain::entities::{Organization, PurchasingAccount};
use domain::ids::{AccountId, OrganizationId};
use domain::ports::DirectoryRepository;
use domain::values::Name;
use persistence::Database;
use uuid::Uuid;

/// The URL of a database of its own for one test.
pub fn database_url(dir: &tempfile::TempDir) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => persistence::create_postgres_database(
            &admin,
            &format!("sa_test_{}", Uuid::new_v4().simple()),
        )
        .unwrap(),
        _ => dir.path().join("test.db").to_string_lossy().into_owned(),
    }
}

/// A new organization "Contoso".
pub fn organization(db: &Database) -> OrganizationId {
    let org = OrganizationId(Uuid::new_v4());
    db.insert_organization(&Organization {
        id: org,
        name: Name::parse("Contoso").unwrap(),
        contact_emails: vec![],
        preferred_language: domain::Language::En,
        created_at: Utc::now(),
    })
    .unwrap();
    org
}

/// A new organization "Contoso" with one purchasing account "EMEA".
pub fn account(db: &Database) -> AccountId {
    let now = Utc::now();
    let org = organization(db);
    let account = AccountId(Uuid::new_v4());
    db.insert_account(&PurchasingAccount {
        id: account,
        organization_id: org,
        name: Name::parse("EMEA").unwrap(),
        agreement_number: None,
        sa_id: None,
        program_code: None,
        created_at: now,
    })
    .unwrap();
    account
}

/// A new account (as [`account`]) holding `quantity` planning days granted by `actor` for 30
/// days from now.
pub fn granted(
    db: &Database,
    quantity: i64,
    actor: &domain::auth::Actor,
) -> (AccountId, domain::ids::BenefitId) {
    use domain::ports::BenefitRepository;
    let now = Utc::now();
    let account = account(db);
    let grant = domain::benefit::Grant::new(
        domain::catalog::builtin_catalog()
            .find("planning_services")
            .unwrap(),
        Some(domain::values::Quantity::new(quantity).unwrap()),
        now,
        now + chrono::Duration::days(30),
        vec![],
        now,
    )
    .unwrap();
    let id = domain::ids::BenefitId(Uuid::new_v4());
    db.grant(account, id, &grant, None, actor, now).unwrap();
    (account, id)
}

/// An operator's audit line about `org` ("organization created"), written now.
pub fn audit_line(org: OrganizationId) -> domain::audit::AuditEvent {
    use domain::audit::{AuditAction, AuditEvent, TargetKind};
    use domain::auth::{Actor, Role};
    AuditEvent {
        id: Uuid::new_v4(),
        organization_id: Some(org),
        account_id: None,
        actor: Actor {
            subject: "ops".into(),
            role: Role::Operator,
            partner: None,
        },
        action: AuditAction::OrganizationCreated,
        target_kind: TargetKind::Organization,
        target_id: org.as_uuid(),
        detail: None,
        at: Utc::now(),
    }
}
