use crate::audit;
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::idempotency;
use crate::state::AppState;
use crate::valid;
use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{authorize_global, Action};
use domain::entities::Partner;
use domain::ids::PartnerId;
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
}

/// A licensing partner.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", "name": "Fabrikam Licensing Services",
    "contact_email": "licensing@fabrikam.com", "created_at": "2026-11-24T09:30:00Z"}))]
pub struct PartnerView {
    pub id: Uuid,
    pub name: String,
    pub contact_email: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&Partner> for PartnerView {
    fn from(p: &Partner) -> Self {
        Self {
            id: p.id.as_uuid(),
            name: p.name.as_str().to_owned(),
            contact_email: p.contact_email.as_ref().map(ToString::to_string),
            created_at: p.created_at,
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
    let contact_email = match body.contact_email.as_deref() {
        None => Some(None),
        Some(raw) => fields
            .check("contact_email", EmailAddress::parse(raw))
            .map(Some),
    };
    valid!(fields; name, contact_email);
    let partner = Partner {
        id: PartnerId(Uuid::new_v4()),
        name,
        contact_email,
        created_at: state.now(),
    };
    let event = audit::event(
        &actor,
        None,
        AuditAction::PartnerCreated,
        (TargetKind::Partner, partner.id.as_uuid()),
        Some(partner.name.as_str().to_owned()),
        partner.created_at,
    );
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, _| {
        tx.insert_partner(&partner)?;
        tx.audit(&event)?;
        idempotency::stored(StatusCode::CREATED, &[], &PartnerView::from(&partner))
    })
    .await
}
