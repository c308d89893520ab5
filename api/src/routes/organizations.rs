use crate::access::{authorize_on, Resource};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::blocking;
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::directory::{self, OrganizationChange};
use crate::valid;
use crate::views::OrganizationView;
use actix_web::http::{header, StatusCode};
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use domain::auth::{authorize_global, Action};
use domain::entities::Organization;
use domain::ids::OrganizationId;
use domain::ports::DirectoryRepository;
use domain::values::{EmailAddress, Name};
use domain::Localized;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new customer organization.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Contoso Ltd", "contact_emails": ["it-admins@contoso.com"]}))]
pub struct CreateOrganization {
    /// 1 to 200 characters.
    #[schema(value_type = openapi::text::DisplayName)]
    pub name: String,
    /// Where notifications for the organization's administrators go.
    #[serde(default)]
    #[schema(value_type = Vec<openapi::text::Email>)]
    pub contact_emails: Vec<String>,
    /// The language of the e-mails its administrators receive: `en` (default) or `fr`.
    #[serde(default)]
    pub preferred_language: Option<String>,
}

/// What an organization's administrators may change.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"contact_emails": ["it-admins@contoso.com"], "preferred_language": "fr"}))]
pub struct UpdateOrganization {
    /// Replaces the addresses notifications go to (at least one).
    #[schema(value_type = Option<Vec<openapi::text::Email>>, min_items = 1)]
    pub contact_emails: Option<Vec<String>>,
    /// `en` or `fr`.
    pub preferred_language: Option<String>,
}

/// Create an organization
///
/// Operators only.
#[utoipa::path(
    tag = "organizations",
    request_body = CreateOrganization,
    responses(
        (status = 201, description = "Created", body = OrganizationView,
         headers(("Location" = String, description = "The new organization's URL"))),
        (status = 403, response = openapi::Forbidden),
    )
)]
#[post("/organizations")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    context: RequestContext,
    Caller(caller): Caller,
    body: web::Json<CreateOrganization>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorize_global(&caller, Action::ManageDirectory)?;
    let body = body.into_inner();
    let mut fields = Fields::default();
    let name = fields.check("name", Name::parse(&body.name));
    let contact_emails = fields.each("contact_emails", &body.contact_emails, EmailAddress::parse);
    let language = crate::extract::parse_language(
        &mut fields,
        "preferred_language",
        body.preferred_language.as_deref(),
    );
    valid!(fields; name, contact_emails, language);
    let organization = Organization {
        id: OrganizationId(Uuid::new_v4()),
        name,
        contact_emails,
        created_at: state.now(),
        preferred_language: language.unwrap_or_default(),
    };
    let location = format!("/api/v1/organizations/{}", organization.id);
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, _| {
        directory::add_organization(tx, &actor, &organization)?;
        idempotency::stored(
            StatusCode::CREATED,
            &[(header::LOCATION, location)],
            &OrganizationView::from(&organization),
        )
    })
    .await
}

/// One organization
///
/// Its administrators, partners with an approved permission on it, and operators.
#[utoipa::path(
    tag = "organizations",
    params(("org_id" = Uuid, Path, description = "The organization")),
    responses(
        (status = 200, description = "The organization", body = OrganizationView),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/organizations/{org_id}")]
pub async fn get(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
) -> Result<web::Json<OrganizationView>, ApiError> {
    let id = OrganizationId(path.into_inner());
    let organization = blocking(move || {
        authorize_on(
            &state,
            &caller,
            id,
            Action::ReadOrganization,
            Resource::Organization,
        )?;
        state
            .db
            .organization(id)?
            .ok_or_else(|| Resource::Organization.not_found())
    })
    .await?;
    Ok(web::Json(OrganizationView::from(&organization)))
}

/// Change an organization's settings
///
/// Its contact e-mails (where requests of partners and other notifications go; at least
/// one) and the language of the e-mails its administrators receive. The organization's
/// administrators and operators.
#[utoipa::path(
    tag = "organizations",
    params(("org_id" = Uuid, Path, description = "The organization")),
    request_body = UpdateOrganization,
    responses(
        (status = 200, description = "Changed", body = OrganizationView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[patch("/organizations/{org_id}")]
pub async fn update(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<web::Json<OrganizationView>, ApiError> {
    let id = OrganizationId(path.into_inner());
    let body: UpdateOrganization = crate::extract::from_object(body.into_inner())?;
    let mut fields = Fields::default();
    let contact_emails: Option<Option<Vec<EmailAddress>>> = match &body.contact_emails {
        None => Some(None),
        Some(list) if list.is_empty() => {
            let message = Localized::new(
                "must name at least one address",
                "doit contenir au moins une adresse",
            );
            fields.reject("contact_emails", message);
            None
        }
        Some(list) => fields
            .each("contact_emails", list, EmailAddress::parse)
            .map(Some),
    };
    let language = crate::extract::parse_language(
        &mut fields,
        "preferred_language",
        body.preferred_language.as_deref(),
    );
    valid!(fields; contact_emails, language);
    let change = OrganizationChange {
        contact_emails,
        preferred_language: language,
    };
    let updated =
        blocking(move || directory::update_organization(&state, &caller, id, change)).await?;
    Ok(web::Json(OrganizationView::from(&updated)))
}
