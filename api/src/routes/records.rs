//! What the organization's administrators can check: the audit log (who did what, on whose
//! behalf) and the outbox of notifications.

use super::list_schema;
use crate::access::{authorize_on, Resource};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::{blocking, encode_cursor, ListQuery};
use crate::state::AppState;
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use domain::audit::AuditEvent;
use domain::auth::Action;
use domain::ids::OrganizationId;
use domain::notification::Notification;
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
    pub actor: super::ledger::ActorView,
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
            actor: super::ledger::ActorView {
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

/// One e-mail of the outbox.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "1a3c5e7f-9b2d-4f6a-8c0e-2d4f6a8c0e1b", "recipient": "it-admins@contoso.com",
    "template": "permission_requested", "language": "en",
    "subject": "Northwind Advisors asks to manage the benefits of Contoso Ltd",
    "body": "Northwind Advisors asks to manage the Software Assurance benefits of Contoso Ltd on its behalf. Approve or decline the request in the portal.",
    "status": "pending", "status_label": "Waiting to be sent", "attempts": 0, "last_error": null,
    "next_attempt_at": "2026-11-24T10:15:00Z", "created_at": "2026-11-24T10:15:00Z", "sent_at": null
}))]
pub struct NotificationView {
    pub id: Uuid,
    /// `null` when there was nobody to send it to (status `no_recipient`).
    pub recipient: Option<String>,
    /// e.g. `permission_requested`, `permission_approved`, `voucher_assigned`.
    pub template: String,
    /// `en` or `fr`.
    pub language: String,
    pub subject: String,
    pub body: String,
    /// `pending` (not sent yet, or waiting for a retry), `sent`, `failed` (gave up),
    /// `no_recipient` (nobody to send it to: kept so that it is seen).
    pub status: String,
    /// The status for people, in the language of the answer.
    pub status_label: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl NotificationView {
    pub fn of(n: &Notification, language: Language) -> Self {
        Self {
            id: n.id,
            recipient: n.recipient.as_ref().map(ToString::to_string),
            template: n.template.clone(),
            language: n.language.code().to_owned(),
            subject: n.subject.clone(),
            body: n.body.clone(),
            status: n.status.code().to_owned(),
            status_label: n.status.label().get(language).to_owned(),
            attempts: n.attempts,
            last_error: n.last_error.clone(),
            next_attempt_at: n.next_attempt_at,
            created_at: n.created_at,
            sent_at: n.sent_at,
        }
    }
}

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
