//! Partner permissions: a partner asks, the organization's administrators decide, the partner
//! may withdraw its request. Each use case runs in one write transaction over the domain's
//! state machine (`domain::permission`, whose `MOVES` says who may make which move).

use crate::audit;
use crate::error::ApiError;
use crate::preconditions::Expected;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Actor, Principal};
use domain::entities::{Organization, Partner};
use domain::ids::{OrganizationId, PartnerId};
use domain::notification::{addressees, Decision, Message, Notification};
use domain::permission::{Permission, PermissionStatus};
use domain::ports::DirectoryRepository;
use domain::Localized;
use persistence::{Database, Tx};
use uuid::Uuid;

/// What a decision moved, with the names its answer shows.
pub struct Decided {
    pub permission: Permission,
    pub organization: Organization,
    pub partner: Option<Partner>,
}

/// Moves the permission `id` to `to` for `caller`, who must see it; `expected` is the
/// version the caller read (`If-Match`). The move is what `Permission::decide` accepts; it is
/// recorded with its audit line, the partner is told of a decision and the organization of a
/// withdrawal, each in the recipient's language. Blocking.
pub fn decide(
    db: &Database,
    caller: &Principal,
    id: Uuid,
    to: PermissionStatus,
    expected: Option<&Expected>,
    now: DateTime<Utc>,
) -> Result<Decided, ApiError> {
    let actor = Actor::of(caller);
    if to == PermissionStatus::Approved {
        // The partner's webhooks get the organization's events from its approval on: on
        // PostgreSQL, lines already committed but not numbered yet are numbered first, under
        // the permissions as they were (the sequencer writes deliveries as it numbers).
        db.sequence_events_now()?;
    }
    db.write(|tx| {
        let current = tx
            .permission(id)?
            .filter(|p| p.visible_to(caller))
            .ok_or_else(not_found)?;
        if expected.is_some_and(|e| !e.matches(current.settled(now).version)) {
            return Err(changed_since_read());
        }
        let transition = current
            .decide(caller, to, now)
            .map_err(|e| ApiError::refused(&e))?;
        if !tx.move_permission(&transition, current.version)? {
            return Err(changed_since_read());
        }
        let organization = tx
            .organization(current.organization_id)?
            .ok_or_else(not_found)?;
        let partner = tx.partner(current.partner_id)?;
        tx.audit(&audit::event(
            &actor,
            Some(current.organization_id),
            AuditAction::permission_moved(to),
            TargetKind::Permission.target(id),
            Some(domain::audit::details::permission_moved(
                transition.event.from,
                to,
            )),
            now,
        ))?;
        if to == PermissionStatus::Withdrawn {
            let partner_name = partner
                .as_ref()
                .map_or_else(|| caller.subject.clone(), |p| p.name.as_str().to_owned());
            for recipient in addressees(&organization.contact_emails) {
                tx.notify(&Notification::new(
                    Uuid::new_v4(),
                    current.organization_id,
                    recipient,
                    &Message::PermissionWithdrawn {
                        partner: &partner_name,
                        organization: organization.name.as_str(),
                    },
                    organization.preferred_language,
                    now,
                ))?;
            }
        }
        if let (Some(decision), Some(partner)) = (Decision::of(to), partner.as_ref()) {
            for recipient in addressees(&partner.contact_email) {
                tx.notify(&Notification::new(
                    Uuid::new_v4(),
                    current.organization_id,
                    recipient,
                    &Message::PermissionDecided {
                        organization: organization.name.as_str(),
                        decision,
                    },
                    partner.preferred_language,
                    now,
                ))?;
            }
        }
        Ok(Decided {
            permission: transition.permission,
            organization,
            partner,
        })
    })
}

/// The organization asked and the partner asking, as the request's answer and e-mail name
/// them.
#[derive(Clone)]
pub struct Parties {
    pub organization: Organization,
    pub partner: Option<Partner>,
}

/// Reads the parties of a request (404 for an organization that does not exist). Blocking.
pub fn parties(
    db: &Database,
    organization: OrganizationId,
    partner: PartnerId,
) -> Result<Parties, ApiError> {
    let organization = db.organization(organization)?.ok_or_else(|| {
        ApiError::not_found(Localized::new(
            "No organization with this id.",
            "Aucune organisation avec cet identifiant.",
        ))
    })?;
    let partner = db.partner(partner)?;
    Ok(Parties {
        organization,
        partner,
    })
}

/// Records a partner's request in the caller's transaction: the permission and its first
/// move (the store refuses a second live one), the audit line, and an e-mail to each contact
/// of the organization in the language the organization chose, not the partner's.
pub fn request(
    tx: &mut Tx<'_>,
    caller: &Principal,
    permission: &Permission,
    parties: &Parties,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let organization = &parties.organization;
    tx.request_permission(
        permission,
        &permission.requested_event(&caller.subject),
        now,
    )?;
    tx.audit(&audit::event(
        &Actor::of(caller),
        Some(organization.id),
        AuditAction::PermissionRequested,
        TargetKind::Permission.target(permission.id),
        Some(domain::audit::details::scopes(&permission.scopes)),
        now,
    ))?;
    let partner_name = parties
        .partner
        .as_ref()
        .map_or_else(|| caller.subject.clone(), |p| p.name.as_str().to_owned());
    let message = Message::PermissionRequested {
        partner: &partner_name,
        organization: organization.name.as_str(),
        scopes: &permission.scopes,
    };
    for recipient in addressees(&organization.contact_emails) {
        tx.notify(&Notification::new(
            Uuid::new_v4(),
            organization.id,
            recipient,
            &message,
            organization.preferred_language,
            now,
        ))?;
    }
    Ok(())
}

pub fn not_found() -> ApiError {
    ApiError::not_found(Localized::new(
        "No partner permission with this id.",
        "Aucune autorisation de partenaire avec cet identifiant.",
    ))
}

pub fn changed_since_read() -> ApiError {
    crate::preconditions::failed(Localized::new(
        "The permission has changed since it was read: read it again.",
        "L'autorisation a changé depuis sa lecture : relisez-la.",
    ))
}
