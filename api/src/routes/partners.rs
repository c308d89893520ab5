use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::blocking;
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::directory::{self, partner_not_found, PartnerChange};
use crate::valid;
use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::{authorize_global, Action};
use domain::auth::{Principal, PrincipalKind};
use domain::entities::Partner;
use domain::ids::PartnerId;
use domain::page::PageRequest;
use domain::ports::{DirectoryRepository, PermissionRepository};
use domain::values::{EmailAddress, Name};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new licensing partner.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Fabrikam Licensing Services", "contact_email": "licensing@fabrikam.com"}))]
pub struct CreatePartner {
    /// 1 to 200 characters.
    #[schema(value_type = openapi::text::DisplayName)]
    pub name: String,
    /// Where permission decisions are sent.
    #[schema(value_type = Option<openapi::text::Email>)]
    pub contact_email: Option<String>,
    /// The language of the e-mails it receives: `en` (default) or `fr`.
    #[serde(default)]
    pub preferred_language: Option<String>,
}

/// What a partner (or an operator) may change.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"contact_email": "licensing@fabrikam.com", "preferred_language": "fr"}))]
pub struct UpdatePartner {
    #[schema(value_type = Option<openapi::text::Email>)]
    pub contact_email: Option<String>,
    /// `en` or `fr`.
    pub preferred_language: Option<String>,
}

/// A licensing partner.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", "name": "Fabrikam Licensing Services",
    "contact_email": "licensing@fabrikam.com", "created_at": "2026-11-24T09:30:00Z",
    "preferred_language": "en"}))]
pub struct PartnerView {
    pub id: Uuid,
    pub name: String,
    pub contact_email: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The language of the e-mails it receives.
    #[schema(value_type = String)]
    pub preferred_language: &'static str,
}

impl From<&Partner> for PartnerView {
    fn from(p: &Partner) -> Self {
        Self {
            id: p.id.as_uuid(),
            name: p.name.as_str().to_owned(),
            contact_email: p.contact_email.as_ref().map(ToString::to_string),
            created_at: p.created_at,
            preferred_language: p.preferred_language.code(),
        }
    }
}

/// Create a partner
///
/// Operators only. The partner's systems then call the API with tokens whose `partner_id`
/// is the new id.
#[utoipa::path(
    tag = "partners",
    request_body = CreatePartner,
    responses(
        (status = 201, description = "Created", body = PartnerView),
        (status = 403, response = openapi::Forbidden),
    )
)]
#[post("/partners")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    context: RequestContext,
    Caller(caller): Caller,
    body: web::Json<CreatePartner>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorize_global(&caller, Action::ManageDirectory)?;
    let body = body.into_inner();
    let mut fields = Fields::default();
    let name = fields.check("name", Name::parse(&body.name));
    let contact_email = optional_email(&mut fields, body.contact_email.as_deref());
    let language = crate::extract::parse_language(
        &mut fields,
        "preferred_language",
        body.preferred_language.as_deref(),
    );
    valid!(fields; name, contact_email, language);
    let partner = Partner {
        id: PartnerId(Uuid::new_v4()),
        name,
        contact_email,
        created_at: state.now(),
        preferred_language: language.unwrap_or_default(),
    };
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, _| {
        directory::add_partner(tx, &actor, &partner)?;
        idempotency::stored(StatusCode::CREATED, &[], &PartnerView::from(&partner))
    })
    .await
}

/// An optional contact e-mail of a body: `Some(None)` when absent, `None` when invalid.
fn optional_email(fields: &mut Fields, raw: Option<&str>) -> Option<Option<EmailAddress>> {
    fields.optional("contact_email", raw, EmailAddress::parse)
}

/// Whether `caller` may see `partner`: an operator, the partner itself, or an administrator
/// of an organization the partner has asked for a permission (whatever became of it).
/// Blocking.
fn may_see(state: &AppState, caller: &Principal, partner: PartnerId) -> Result<bool, ApiError> {
    match caller.kind {
        PrincipalKind::Operator => Ok(true),
        PrincipalKind::Partner(p) => Ok(p == partner),
        PrincipalKind::CustomerAdmin(org) => {
            let now = state.now();
            let mut after = None;
            loop {
                let page = PageRequest::new(Some(PageRequest::MAX_LIMIT), after)
                    .ok_or_else(ApiError::internal)?;
                let found = state.db.organization_permissions(org, None, now, &page)?;
                if found.items.iter().any(|p| p.partner_id == partner) {
                    return Ok(true);
                }
                match found.next {
                    Some(next) => after = Some(next),
                    None => return Ok(false),
                }
            }
        }
    }
}

/// One partner
///
/// Its name and contact e-mail: for operators, the partner itself, and the administrators
/// of an organization it has asked for a permission (who else asks is not revealed: 404).
#[utoipa::path(
    tag = "partners",
    params(("partner_id" = Uuid, Path, description = "The partner")),
    responses(
        (status = 200, description = "The partner", body = PartnerView),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/partners/{partner_id}")]
pub async fn get(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
) -> Result<web::Json<PartnerView>, ApiError> {
    let id = PartnerId(path.into_inner());
    let partner = blocking(move || {
        if !may_see(&state, &caller, id)? {
            return Err(partner_not_found());
        }
        state.db.partner(id)?.ok_or_else(partner_not_found)
    })
    .await?;
    Ok(web::Json(PartnerView::from(&partner)))
}

/// Change a partner's settings
///
/// Its contact e-mail (where decisions on its requests go) and the language of the e-mails
/// it receives. The partner itself and operators.
#[utoipa::path(
    tag = "partners",
    params(("partner_id" = Uuid, Path, description = "The partner")),
    request_body = UpdatePartner,
    responses(
        (status = 200, description = "Changed", body = PartnerView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[patch("/partners/{partner_id}")]
pub async fn update(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<web::Json<PartnerView>, ApiError> {
    let id = PartnerId(path.into_inner());
    let actor = directory::authorize_partner_change(&caller, id)?;
    let body: UpdatePartner = crate::extract::from_object(body.into_inner())?;
    let mut fields = Fields::default();
    let contact_email = optional_email(&mut fields, body.contact_email.as_deref());
    let language = crate::extract::parse_language(
        &mut fields,
        "preferred_language",
        body.preferred_language.as_deref(),
    );
    valid!(fields; contact_email, language);
    let change = PartnerChange {
        contact_email,
        preferred_language: language,
    };
    let updated =
        blocking(move || directory::update_partner(&state, &actor, id, change, state.now()))
            .await?;
    Ok(web::Json(PartnerView::from(&updated)))
}
