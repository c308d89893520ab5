//! Building audit events: every change is written to the audit log in its own transaction.

use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, AuditEvent, Target};
use domain::auth::Actor;
use domain::ids::OrganizationId;
use domain::Localized;

/// An audit event with a fresh id.
pub fn event(
    actor: &Actor,
    organization_id: Option<OrganizationId>,
    action: AuditAction,
    target: Target,
    detail: Option<Localized>,
    at: DateTime<Utc>,
) -> AuditEvent {
    AuditEvent {
        id: domain::ids::append_only_id(at),
        organization_id,
        account_id: None,
        actor: actor.clone(),
        action,
        target_kind: target.kind,
        target_id: target.id,
        detail,
        at,
    }
}

/// A line about one purchasing account's benefits, vouchers, users or domains: of its
/// organization, and naming the account (so that only its kept answers go stale).
pub fn on_account(
    actor: &Actor,
    account: &domain::entities::PurchasingAccount,
    action: AuditAction,
    target: Target,
    detail: Option<Localized>,
    at: DateTime<Utc>,
) -> AuditEvent {
    event(
        actor,
        Some(account.organization_id),
        action,
        target,
        detail,
        at,
    )
    .about_account(account.id)
}
