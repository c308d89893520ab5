//! Building audit events: every change is written to the audit log in its own transaction.

use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, AuditEvent, TargetKind};
use domain::auth::Actor;
use domain::ids::OrganizationId;
use domain::Localized;
use uuid::Uuid;

/// An audit event with a fresh id.
pub fn event(
    actor: &Actor,
    organization_id: Option<OrganizationId>,
    action: AuditAction,
    (target_kind, target_id): (TargetKind, Uuid),
    detail: Option<Localized>,
    at: DateTime<Utc>,
) -> AuditEvent {
    AuditEvent {
        id: Uuid::new_v4(),
        organization_id,
        actor: actor.clone(),
        action,
        target_kind,
        target_id,
        detail,
        at,
    }
}
