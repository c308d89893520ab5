//! Partner permissions: a partner asks, the organization's administrators decide, time
//! expires them. The state machine is `domain::permission`; this module loads, checks
//! visibility and `If-Match`, records each move with its audit line and notifications.

use super::list_schema;
use crate::access::{authorize_on, Resource};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::{blocking, encode_cursor, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases;
use crate::use_cases::permissions::{not_found, Decided};
use crate::valid;
use crate::views::OrganizationView;
use actix_web::http::{header, StatusCode};
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::{Action, Principal, Scope};
use domain::entities::{Organization, Partner};
use domain::ids::{OrganizationId, PartnerId};
use domain::page::Page;
use domain::permission::{
    decided_statuses, Permission, PermissionEvent, PermissionStatus, PENDING_LIFETIME,
};
use domain::ports::{DirectoryRepository, PermissionRepository};
use domain::Localized;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A partner's permission on an organization.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "3e1f5a7c-9b2d-4e6f-8a0c-1d3e5f7a9b2c", "organization_id": "6d3c1a52-0b7e-4c9d-8e21-c017505a1101",
    "partner_id": "9a8b7c6d-5e4f-4a3b-8c1d-0e9f8a7b6c01", "status": "approved",
    "scopes": ["manage_domains", "manage_users", "manage_vouchers"],
    "scope_labels": ["Manage e-mail domains", "Manage users", "Manage training vouchers"],
    "expires_at": "2027-11-24T00:00:00Z", "requested_at": "2026-08-16T09:12:00Z",
    "updated_at": "2026-08-18T14:03:00Z", "answer_by": null, "version": 2,
    "status_label": "Approved",
    "partner": {"id": "9a8b7c6d-5e4f-4a3b-8c1d-0e9f8a7b6c01", "name": "Fabrikam Licensing Services", "contact_email": "licensing@fabrikam.com"},
    "organization": {"id": "6d3c1a52-0b7e-4c9d-8e21-c017505a1101", "name": "Contoso Ltd"},
    "allowed_moves": ["removed"]
}))]
pub struct PermissionView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub partner_id: Uuid,
    /// `pending`, `approved`, `declined`, `withdrawn`, `removed` or `expired` — as of now:
    /// a request unanswered for 90 days or a permission past its end date reads `expired`.
    pub status: String,
    /// What the partner may do once approved.
    pub scopes: Vec<String>,
    /// The scopes as a person reads them, in the answer's language.
    pub scope_labels: Vec<String>,
    /// End date of the permission (`null`: until removed).
    pub expires_at: Option<DateTime<Utc>>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For a pending request: when it expires without an answer.
    pub answer_by: Option<DateTime<Utc>>,
    /// Bumped by every move; also the `ETag`.
    pub version: i64,
    /// The status as a person reads it, in the answer's language.
    #[schema(example = "Approved")]
    pub status_label: String,
    /// The partner that asked.
    pub partner: PartnerRef,
    /// The organization asked.
    pub organization: OrganizationRef,
    /// The statuses the caller may move it to now (what a status drop-down offers).
    pub allowed_moves: Vec<String>,
    /// After a decision: what was done, in a sentence for the person who did it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The partner of a permission.
#[derive(Serialize, ToSchema)]
pub struct PartnerRef {
    pub id: Uuid,
    #[schema(example = "Fabrikam Licensing Services")]
    pub name: Option<String>,
    #[schema(example = "licensing@fabrikam.com")]
    pub contact_email: Option<String>,
}

/// The organization of a permission.
#[derive(Serialize, ToSchema)]
pub struct OrganizationRef {
    pub id: Uuid,
    #[schema(example = "Contoso Ltd")]
    pub name: Option<String>,
}

/// What views of permissions show beyond the permissions themselves: the names of the
/// partners and organizations they name, and what the caller may do next, in its language.
pub struct Viewer {
    caller: Principal,
    language: domain::Language,
    partners: HashMap<PartnerId, Partner>,
    organizations: HashMap<OrganizationId, Organization>,
}

impl Viewer {
    /// Reads the partners and organizations of `permissions`. Blocking.
    fn load(
        state: &AppState,
        caller: Principal,
        language: domain::Language,
        permissions: &[Permission],
    ) -> Result<Viewer, ApiError> {
        let mut viewer = Viewer {
            caller,
            language,
            partners: HashMap::new(),
            organizations: HashMap::new(),
        };
        for p in permissions {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                viewer.partners.entry(p.partner_id)
            {
                if let Some(partner) = state.db.partner(p.partner_id)? {
                    slot.insert(partner);
                }
            }
            if let std::collections::hash_map::Entry::Vacant(slot) =
                viewer.organizations.entry(p.organization_id)
            {
                if let Some(organization) = state.db.organization(p.organization_id)? {
                    slot.insert(organization);
                }
            }
        }
        Ok(viewer)
    }

    fn partner_name(&self, id: PartnerId) -> String {
        self.partners
            .get(&id)
            .map_or_else(|| id.to_string(), |p| p.name.as_str().to_owned())
    }

    fn organization_name(&self, id: OrganizationId) -> String {
        self.organizations
            .get(&id)
            .map_or_else(|| id.to_string(), |o| o.name.as_str().to_owned())
    }
}

/// The moves a person may choose between, in the order a drop-down lists them.
const MOVES: [PermissionStatus; 4] = [
    PermissionStatus::Approved,
    PermissionStatus::Declined,
    PermissionStatus::Removed,
    PermissionStatus::Withdrawn,
];

impl PermissionView {
    fn at(permission: &Permission, now: DateTime<Utc>, viewer: &Viewer) -> Self {
        let p = permission.settled(now);
        let partner = viewer.partners.get(&p.partner_id);
        let organization = viewer.organizations.get(&p.organization_id);
        Self {
            status_label: p.status.label().get(viewer.language).to_owned(),
            partner: PartnerRef {
                id: p.partner_id.as_uuid(),
                name: partner.map(|x| x.name.as_str().to_owned()),
                contact_email: partner
                    .and_then(|x| x.contact_email.as_ref().map(ToString::to_string)),
            },
            organization: OrganizationRef {
                id: p.organization_id.as_uuid(),
                name: organization.map(|x| x.name.as_str().to_owned()),
            },
            // The domain's state machine says which moves this caller may make now.
            allowed_moves: MOVES
                .into_iter()
                .filter(|to| permission.decide(&viewer.caller, *to, now).is_ok())
                .map(|to| to.code().to_owned())
                .collect(),
            message: None,
            id: p.id,
            organization_id: p.organization_id.as_uuid(),
            partner_id: p.partner_id.as_uuid(),
            status: p.status.code().to_owned(),
            scopes: p.scopes.iter().map(|s| s.code().to_owned()).collect(),
            scope_labels: p
                .scopes
                .iter()
                .map(|s| s.label().get(viewer.language).to_owned())
                .collect(),
            expires_at: p.expires_at,
            requested_at: p.requested_at,
            updated_at: p.updated_at,
            answer_by: (p.status == PermissionStatus::Pending)
                .then(|| p.requested_at + PENDING_LIFETIME),
            version: p.version,
        }
    }
}

list_schema!(PermissionList, PermissionView);

/// One move of a permission.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"from": "pending", "to": "approved", "by": "customer_admin",
    "subject": "ana.lopez@contoso.com", "at": "2026-08-18T14:03:00Z"}))]
pub struct PermissionEventView {
    /// `null` for the request itself.
    pub from: Option<String>,
    pub to: String,
    /// `partner`, `customer_admin` or `time`.
    pub by: String,
    /// Who moved it (the token's `sub`); `null` when time did.
    pub subject: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<&PermissionEvent> for PermissionEventView {
    fn from(e: &PermissionEvent) -> Self {
        Self {
            from: e.from.map(|s| s.code().to_owned()),
            to: e.to.code().to_owned(),
            by: e.by.code().to_owned(),
            subject: e.subject.clone(),
            at: e.at,
        }
    }
}

/// Every move of a permission, oldest first.
#[derive(Serialize, ToSchema)]
pub struct PermissionHistory {
    pub permission_id: Uuid,
    pub items: Vec<PermissionEventView>,
}

/// A partner's request.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"organization_id": "6d3c1a52-0b7e-4c9d-8e21-c017505a1101",
    "scopes": ["manage_users", "manage_vouchers"], "expires_at": "2027-12-31T00:00:00Z"}))]
pub struct RequestBody {
    pub organization_id: Uuid,
    /// A subset of `manage_domains`, `distribute_access_codes`, `manage_users`,
    /// `manage_vouchers`, `downloads_and_product_keys`, `convert_benefits`,
    /// `manage_future_benefits`; absent: all of them.
    #[schema(value_type = Option<Vec<openapi::text::Scope>>)]
    pub scopes: Option<Vec<String>>,
    /// End date once approved; absent: until removed.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A decision on a permission.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "approved"}))]
pub struct MoveBody {
    /// `approved`, `declined`, `removed` (the organization's administrators) or `withdrawn`
    /// (the partner that asked).
    #[schema(value_type = openapi::text::PermissionMove)]
    pub status: String,
}

/// `?status=` of the permission lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Only permissions with this status now: `pending`, `approved`, `declined`,
    /// `withdrawn`, `removed`, `expired`.
    #[param(value_type = Option<openapi::text::PermissionStatus>)]
    pub status: Option<String>,
}

impl StatusQuery {
    fn parse(&self) -> Result<Option<PermissionStatus>, ApiError> {
        self.status
            .as_deref()
            .map(|raw| {
                PermissionStatus::parse(raw).ok_or_else(|| {
                    ApiError::invalid(
                        "status",
                        Localized::new(
                            "must be pending, approved, declined, withdrawn, removed or expired",
                            "doit valoir pending, approved, declined, withdrawn, removed ou expired",
                        ),
                    )
                })
            })
            .transpose()
    }
}

fn answer(status: StatusCode, view: PermissionView) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, crate::preconditions::etag(view.version)))
        .json(view)
}

/// Loads a permission the caller may see. Blocking.
fn visible(state: &AppState, caller: &Principal, id: Uuid) -> Result<Permission, ApiError> {
    state
        .db
        .permission(id)?
        .filter(|p| p.visible_to(caller))
        .ok_or_else(not_found)
}

fn partner_of(caller: &Principal) -> Result<PartnerId, ApiError> {
    crate::access::partner_of(
        caller,
        Localized::new(
            "Only partners have permissions of their own.",
            "Seuls les partenaires ont des autorisations propres.",
        ),
    )
}

fn page_of(page: Page<Permission>, now: DateTime<Utc>, viewer: &Viewer) -> PermissionList {
    PermissionList {
        items: page
            .items
            .iter()
            .map(|p| PermissionView::at(p, now, viewer))
            .collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }
}

/// Ask an organization for a permission
///
/// Partners only: a customer can never create a request. Names the organization and,
/// optionally, the scopes (default all) and an end date. Refused with 409
/// (`permission_exists`) while the partner holds a pending or approved permission on that
/// organization. The organization's contact e-mails are notified through the outbox.
#[utoipa::path(
    tag = "partner-permissions",
    request_body = RequestBody,
    responses(
        (status = 201, description = "Requested: `pending`", body = PermissionView,
         headers(("Location" = String, description = "The new permission"), ("ETag" = String, description = "Its version"))),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
    )
)]
#[post("/partner-permissions")]
pub async fn request(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    body: web::Json<RequestBody>,
) -> Result<HttpResponse, ApiError> {
    let only_partners = Localized::new(
        "Only a partner asks for a permission; the organization then decides.",
        "Seul un partenaire demande une autorisation ; l'organisation décide ensuite.",
    );
    let partner = crate::access::partner_of(&caller, only_partners)?;
    let body = body.into_inner();
    let mut fields = Fields::default();
    let scopes = parse_scopes(&mut fields, body.scopes.as_deref());
    valid!(fields; scopes);
    let now = state.now();
    let organization = OrganizationId(body.organization_id);
    let permission = Permission::request(
        Uuid::new_v4(),
        partner,
        organization,
        scopes,
        body.expires_at,
        now,
    )
    .map_err(|e| ApiError::refused(&e))?;
    let parties = {
        let state = state.clone();
        blocking(move || use_cases::permissions::parties(&state.db, organization, partner)).await?
    };
    let location = format!("/api/v1/partner-permissions/{}", permission.id);
    let viewer = Viewer {
        caller: caller.clone(),
        language: context.language,
        partners: parties.partner.iter().map(|p| (p.id, p.clone())).collect(),
        organizations: HashMap::from([(organization, parties.organization.clone())]),
    };
    let asking = caller.clone();
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, _| {
        use_cases::permissions::request(tx, &asking, &permission, &parties, now)?;
        let view = PermissionView::at(&permission, now, &viewer);
        let etag = crate::preconditions::etag(view.version);
        let headers = [(header::ETAG, etag), (header::LOCATION, location)];
        idempotency::stored(StatusCode::CREATED, &headers, &view)
    })
    .await
}

/// The scopes asked for (`None`: all of them), each checked.
fn parse_scopes(fields: &mut Fields, codes: Option<&[String]>) -> Option<Option<Vec<Scope>>> {
    let Some(codes) = codes else {
        return Some(None);
    };
    let parsed: Vec<Option<Scope>> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            fields.check(
                format!("scopes[{i}]"),
                Scope::parse(c).ok_or(domain::values::InvalidValue { message: Localized::new(
                    "is not a scope (manage_domains, distribute_access_codes, manage_users, manage_vouchers, downloads_and_product_keys, convert_benefits, manage_future_benefits)",
                    "n'est pas un périmètre (manage_domains, distribute_access_codes, manage_users, manage_vouchers, downloads_and_product_keys, convert_benefits, manage_future_benefits)",
                ) }),
            )
        })
        .collect();
    parsed.into_iter().collect::<Option<Vec<_>>>().map(Some)
}

/// One permission
///
/// The partner that asked, the organization's administrators and operators. `status` is as
/// of now. Answers an `ETag` to send back as `If-Match` with a decision.
#[utoipa::path(
    tag = "partner-permissions",
    params(("permission_id" = Uuid, Path, description = "The permission")),
    responses(
        (status = 200, description = "The permission", body = PermissionView,
         headers(("ETag" = String, description = "Its version"))),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/partner-permissions/{permission_id}")]
pub async fn get(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let now = state.now();
    let (permission, viewer) = {
        let (state, caller) = (state.clone(), caller.clone());
        blocking(move || {
            let permission = visible(&state, &caller, id)?;
            let viewer = Viewer::load(
                &state,
                caller,
                context.language,
                std::slice::from_ref(&permission),
            )?;
            Ok((permission, viewer))
        })
        .await?
    };
    Ok(answer(
        StatusCode::OK,
        PermissionView::at(&permission, now, &viewer),
    ))
}

/// The status a decision asks for: one a person may move a permission to (`MOVES`).
fn decided_status(raw: &str) -> Result<PermissionStatus, ApiError> {
    PermissionStatus::parse(raw)
        .filter(|s| decided_statuses().contains(s))
        .ok_or_else(|| {
            let codes: Vec<&str> = decided_statuses().iter().map(|s| s.code()).collect();
            ApiError::invalid(
                "status",
                Localized::new(
                    format!("must be one of {}", codes.join(", ")),
                    format!("doit valoir l'une des valeurs {}", codes.join(", ")),
                ),
            )
        })
}

/// Approve, decline, remove or withdraw a permission
///
/// `approved` and `declined` (a pending request) and `removed` (an approved permission, at
/// any time) by the organization's administrators; `withdrawn` (a pending request) by the
/// partner that asked. A partner never decides, an administrator never withdraws
/// (403 `forbidden_transition`). Any other move is refused with 409 `invalid_transition`
/// and the allowed moves in `context.allowed`. Send the `ETag` as `If-Match` to refuse the
/// move (412) when someone else moved it first. Removal takes effect on the partner's next
/// call. Decisions are e-mailed to the partner through the outbox.
#[utoipa::path(
    tag = "partner-permissions",
    params(
        ("permission_id" = Uuid, Path, description = "The permission"),
        ("If-Match" = Option<openapi::text::EntityTag>, Header, nullable = false, description = "The `ETag` read before"),
    ),
    request_body = MoveBody,
    responses(
        (status = 200, description = "Moved", body = PermissionView,
         headers(("ETag" = String, description = "Its new version"))),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 412, response = openapi::PreconditionFailed),
    )
)]
#[patch("/partner-permissions/{permission_id}")]
pub async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    body: web::Json<MoveBody>,
) -> Result<HttpResponse, ApiError> {
    let to = decided_status(&body.status)?;
    let expected = crate::preconditions::if_match(&req)?;
    let id = path.into_inner();
    let language = context.language;
    let now = state.now();
    let decided = blocking(move || {
        use_cases::permissions::decide(&state.db, &caller, id, to, expected.as_ref(), now)
            .map(|decided| (decided, caller))
    })
    .await?;
    let (
        Decided {
            permission: moved,
            organization,
            partner,
        },
        caller,
    ) = decided;
    // The names were read with the move: the view needs no second trip to the database.
    let viewer = Viewer {
        caller,
        language,
        partners: partner.into_iter().map(|p| (p.id, p)).collect(),
        organizations: HashMap::from([(organization.id, organization)]),
    };
    let mut view = PermissionView::at(&moved, now, &viewer);
    view.message = Some(
        confirmation(
            to,
            &viewer.partner_name(moved.partner_id),
            &viewer.organization_name(moved.organization_id),
        )
        .get(language)
        .to_owned(),
    );
    Ok(answer(StatusCode::OK, view))
}

/// What a decision did, for the person who made it.
fn confirmation(to: PermissionStatus, partner: &str, organization: &str) -> Localized {
    match to {
        PermissionStatus::Approved => Localized::new(
            format!("{partner} may now manage the benefits of {organization} within the approved scopes."),
            format!("{partner} peut désormais gérer les avantages de {organization} dans les périmètres approuvés."),
        ),
        PermissionStatus::Declined => Localized::new(
            format!("The request of {partner} was declined; it was told by e-mail."),
            format!("La demande de {partner} a été refusée ; il en a été informé par e-mail."),
        ),
        PermissionStatus::Removed => Localized::new(
            format!("{partner} may no longer manage the benefits of {organization}."),
            format!("{partner} ne peut plus gérer les avantages de {organization}."),
        ),
        _ => Localized::new(
            format!("The request to {organization} was withdrawn."),
            format!("La demande adressée à {organization} a été retirée."),
        ),
    }
}

/// History of a permission
///
/// Every move, oldest first: from, to, by whom, when — including an expiry time has made
/// and nobody has recorded yet. Same callers as the permission itself.
#[utoipa::path(
    tag = "partner-permissions",
    params(("permission_id" = Uuid, Path, description = "The permission")),
    responses(
        (status = 200, description = "The moves", body = PermissionHistory),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/partner-permissions/{permission_id}/history")]
pub async fn history(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
) -> Result<web::Json<PermissionHistory>, ApiError> {
    let id = path.into_inner();
    let now = state.now();
    let (permission, mut events) = blocking(move || {
        let permission = visible(&state, &caller, id)?;
        let events = state.db.permission_history(id)?;
        Ok((permission, events))
    })
    .await?;
    events.extend(permission.pending_expiry(now));
    Ok(web::Json(PermissionHistory {
        permission_id: id,
        items: events.iter().map(PermissionEventView::from).collect(),
    }))
}

/// Permissions on an organization
///
/// The "partner-managed benefits" page: every partner's permission on the organization,
/// oldest request first, optionally only those with a given status now. The organization's
/// administrators and operators.
#[utoipa::path(
    tag = "partner-permissions",
    params(("org_id" = Uuid, Path, description = "The organization"), StatusQuery, ListQuery),
    responses(
        (status = 200, description = "One page of permissions", body = PermissionList),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/organizations/{org_id}/partner-permissions")]
pub async fn of_organization(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    status: web::Query<StatusQuery>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<PermissionList>, ApiError> {
    let organization = OrganizationId(path.into_inner());
    let (status, page) = (status.parse()?, query.page()?);
    let now = state.now();
    let (found, viewer) = blocking(move || {
        authorize_on(
            &state,
            &caller,
            organization,
            Action::ReadOrganizationAdministration,
            Resource::Organization,
        )?;
        if state.db.organization(organization)?.is_none() {
            return Err(Resource::Organization.not_found());
        }
        let found = state
            .db
            .organization_permissions(organization, status, now, &page)?;
        let viewer = Viewer::load(&state, caller, context.language, &found.items)?;
        Ok((found, viewer))
    })
    .await?;
    Ok(web::Json(page_of(found, now, &viewer)))
}

/// The calling partner's permissions
///
/// Every permission the partner has asked for, on any organization, oldest first,
/// optionally only those with a given status now. Partners only.
#[utoipa::path(
    tag = "partner-permissions",
    params(StatusQuery, ListQuery),
    responses(
        (status = 200, description = "One page of permissions", body = PermissionList),
        (status = 403, response = openapi::Forbidden),
    )
)]
#[get("/partners/me/permissions")]
pub async fn mine(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    status: web::Query<StatusQuery>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<PermissionList>, ApiError> {
    let partner = partner_of(&caller)?;
    let (status, page) = (status.parse()?, query.page()?);
    let now = state.now();
    let (found, viewer) = blocking(move || {
        let found = state.db.partner_permissions(partner, status, now, &page)?;
        let viewer = Viewer::load(&state, caller, context.language, &found.items)?;
        Ok((found, viewer))
    })
    .await?;
    Ok(web::Json(page_of(found, now, &viewer)))
}

/// An organization the partner may act on, with the permission that allows it.
#[derive(Serialize, ToSchema)]
pub struct PermittedOrganization {
    pub organization: OrganizationView,
    pub permission: PermissionView,
}

list_schema!(PermittedOrganizationList, PermittedOrganization);

/// Organizations the calling partner may act on
///
/// Those on which it holds an approved, unexpired permission, with the permission's scopes.
/// Partners only.
#[utoipa::path(
    tag = "partner-permissions",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of organizations", body = PermittedOrganizationList),
        (status = 403, response = openapi::Forbidden),
    )
)]
#[get("/partners/me/organizations")]
pub async fn my_organizations(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    query: web::Query<ListQuery>,
) -> Result<web::Json<PermittedOrganizationList>, ApiError> {
    let partner = partner_of(&caller)?;
    let page = query.page()?;
    let now = state.now();
    let (found, viewer) = blocking(move || {
        let found = state.db.permitted_organizations(partner, now, &page)?;
        let permissions: Vec<Permission> = found.items.iter().map(|(_, p)| p.clone()).collect();
        let viewer = Viewer::load(&state, caller, context.language, &permissions)?;
        Ok((found, viewer))
    })
    .await?;
    Ok(web::Json(PermittedOrganizationList {
        items: found
            .items
            .iter()
            .map(|(o, p)| PermittedOrganization {
                organization: o.into(),
                permission: PermissionView::at(p, now, &viewer),
            })
            .collect(),
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}
