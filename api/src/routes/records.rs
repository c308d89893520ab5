//! What the organization's administrators can check: the audit log (who did what, on whose
//! behalf) and the outbox of notifications.

use super::list_schema;
use crate::access::{authorize_on, Resource};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::{blocking, encode_cursor, ListQuery};
use crate::state::AppState;
use crate::views::NotificationView;
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use domain::audit::AuditEvent;
use domain::auth::Action;
use domain::ids::OrganizationId;
use domain::page::{Page, PageRequest};
use domain::ports::{DirectoryRepository, RecordsRepository};
use domain::Language;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One line of the audit log.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "8c2e4a6b-0d1f-4a3b-9c5d-7e9f1a3b5c7d", "organization_id": "6d3c1a52-0b7e-4c9d-8e21-c017505a1101",
    "actor": {"subject": "integration@fabrikam.com", "role": "partner", "partner_id": "9a8b7c6d-5e4f-4a3b-8c1d-0e9f8a7b6c01"},
    "on_behalf_of": "6d3c1a52-0b7e-4c9d-8e21-c017505a1101", "action": "benefit_consumed",
    "action_label": "Benefit consumed",
    "target": {"kind": "benefit", "id": "56a5b687-1e8f-45d3-98fd-679f126e0714"},
    "detail": "Consumption: +1 incidents", "created_at": "2026-11-24T10:15:00Z"
}))]
pub struct AuditEventView {
    pub id: Uuid,
    pub organization_id: Option<Uuid>,
    pub actor: crate::views::ActorView,
    /// The organization a partner acted for (`null` when the actor is not a partner).
    pub on_behalf_of: Option<Uuid>,
    /// What was done, e.g. `benefit_consumed`, `permission_approved`.
    pub action: String,
    /// The action for people, in the language of the answer.
    pub action_label: String,
    pub target: TargetView,
    /// A short account of the change, in the language of the answer.
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What a change was made to.
#[derive(Serialize, ToSchema)]
pub struct TargetView {
    /// `organization`, `account`, `partner`, `benefit`, `permission`, `voucher`, `conversion`.
    pub kind: String,
    pub id: Uuid,
}

impl AuditEventView {
    fn of(e: &AuditEvent, language: Language) -> Self {
        Self {
            id: e.id,
            organization_id: e.organization_id.map(|o| o.as_uuid()),
            actor: crate::views::ActorView {
                subject: e.actor.subject.clone(),
                role: e.actor.role.code().to_owned(),
                partner_id: e.actor.partner.map(|p| p.as_uuid()),
            },
            on_behalf_of: e.on_behalf_of().map(|o| o.as_uuid()),
            action: e.action.code().to_owned(),
            action_label: e.action.label().get(language).to_owned(),
            target: TargetView {
                kind: e.target_kind.code().to_owned(),
                id: e.target_id,
            },
            detail: e.detail.as_ref().map(|d| d.get(language).to_owned()),
            created_at: e.at,
        }
    }
}

list_schema!(AuditEventList, AuditEventView);

list_schema!(NotificationList, NotificationView);

/// Reads one page of an organization's records after checking the caller is one of its
/// administrators or an operator. Blocking.
fn records<T>(
    state: &AppState,
    caller: &domain::auth::Principal,
    organization: OrganizationId,
    read: impl FnOnce(&AppState) -> Result<Page<T>, domain::error::StorageError>,
) -> Result<Page<T>, ApiError> {
    authorize_on(
        state,
        caller,
        organization,
        Action::ReadOrganizationAdministration,
        Resource::Organization,
    )?;
    if state.db.organization(organization)?.is_none() {
        return Err(Resource::Organization.not_found());
    }
    Ok(read(state)?)
}

/// Audit log of an organization
///
/// Every change made on the organization's data, newest first: who (subject and role), on
/// whose behalf (a partner acting for the organization), what, on which resource. The
/// organization's administrators and operators.
#[utoipa::path(
    tag = "records",
    params(("org_id" = Uuid, Path, description = "The organization"), ListQuery),
    responses(
        (status = 200, description = "One page of events", body = AuditEventList),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/organizations/{org_id}/audit-events")]
pub async fn audit_events(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<AuditEventList>, ApiError> {
    let language = context.language;
    let organization = OrganizationId(path.into_inner());
    let page: PageRequest = query.page()?;
    let found = blocking(move || {
        records(&state, &caller, organization, |s| {
            s.db.audit_events(organization, &page)
        })
    })
    .await?;
    Ok(web::Json(AuditEventList {
        items: found
            .items
            .iter()
            .map(|e| AuditEventView::of(e, language))
            .collect(),
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}

/// Notifications of an organization
///
/// The outbox, newest first: every e-mail the service wrote for the organization (permission
/// requests and decisions, instructions, access codes, vouchers) with its delivery status
/// and attempts. Without an SMTP server configured they stay `pending`. The organization's
/// administrators and operators.
#[utoipa::path(
    tag = "records",
    params(("org_id" = Uuid, Path, description = "The organization"), ListQuery),
    responses(
        (status = 200, description = "One page of notifications", body = NotificationList),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/organizations/{org_id}/notifications")]
pub async fn notifications(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<NotificationList>, ApiError> {
    let language = context.language;
    let organization = OrganizationId(path.into_inner());
    let page = query.page()?;
    let found = blocking(move || {
        records(&state, &caller, organization, |s| {
            s.db.notifications(organization, &page)
        })
    })
    .await?;
    Ok(web::Json(NotificationList {
        items: found
            .items
            .iter()
            .map(|n| NotificationView::of(n, language))
            .collect(),
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}
