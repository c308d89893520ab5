use super::list_schema;
use crate::access::{authorize_on, Resource};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::{blocking, encode_cursor, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::directory;
use crate::valid;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::{authorize_global, Action};
use domain::entities::PurchasingAccount;
use domain::ids::{AccountId, OrganizationId};
use domain::ports::DirectoryRepository;
use domain::values::{Name, Reference};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new purchasing account.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Contoso EMEA", "agreement_number": "EA-7781-2291",
    "sa_id": "SA-0042-7781", "program_code": "HUP-CONTOSO"}))]
pub struct CreateAccount {
    /// 1 to 200 characters.
    #[schema(value_type = openapi::text::DisplayName)]
    pub name: String,
    /// The volume-licensing agreement number.
    #[schema(value_type = Option<openapi::text::Reference>)]
    pub agreement_number: Option<String>,
    /// The Software Assurance identification number.
    #[schema(value_type = Option<openapi::text::Reference>)]
    pub sa_id: Option<String>,
    #[schema(value_type = Option<openapi::text::Reference>)]
    pub program_code: Option<String>,
}

/// A purchasing account: benefits are held per account.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "4d7a2b1c-5e6f-4a8b-9c0d-1e2f3a4b5c6d", "organization_id": "0b5c1f8e-3f4c-4b8a-9a51-2d1f3e4c5b6a",
    "name": "Contoso EMEA", "agreement_number": "EA-7781-2291", "sa_id": "SA-0042-7781", "program_code": "HUP-CONTOSO",
    "created_at": "2026-11-24T09:30:00Z"}))]
pub struct AccountView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub agreement_number: Option<String>,
    pub sa_id: Option<String>,
    pub program_code: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&PurchasingAccount> for AccountView {
    fn from(a: &PurchasingAccount) -> Self {
        Self {
            id: a.id.as_uuid(),
            organization_id: a.organization_id.as_uuid(),
            name: a.name.as_str().to_owned(),
            agreement_number: a.agreement_number.as_ref().map(|r| r.as_str().to_owned()),
            sa_id: a.sa_id.as_ref().map(|r| r.as_str().to_owned()),
            program_code: a.program_code.as_ref().map(|r| r.as_str().to_owned()),
            created_at: a.created_at,
        }
    }
}

list_schema!(AccountList, AccountView);

fn optional_reference(
    fields: &mut Fields,
    name: &str,
    raw: Option<&str>,
) -> Option<Option<Reference>> {
    fields.optional(name, raw, Reference::parse)
}

/// Purchasing accounts of an organization
///
/// The list the portal's account picker shows, oldest first.
#[utoipa::path(
    tag = "organizations",
    params(("org_id" = Uuid, Path, description = "The organization"), ListQuery),
    responses(
        (status = 200, description = "One page of accounts", body = AccountList),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/organizations/{org_id}/accounts")]
pub async fn list(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<AccountList>, ApiError> {
    let organization = OrganizationId(path.into_inner());
    let page = query.page()?;
    let found = blocking(move || {
        authorize_on(
            &state,
            &caller,
            organization,
            Action::ReadOrganization,
            Resource::Organization,
        )?;
        if state.db.organization(organization)?.is_none() {
            return Err(Resource::Organization.not_found());
        }
        Ok(state.db.accounts(organization, &page)?)
    })
    .await?;
    Ok(web::Json(AccountList {
        items: found.items.iter().map(AccountView::from).collect(),
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}

/// Create a purchasing account
///
/// Operators only.
#[utoipa::path(
    tag = "organizations",
    params(("org_id" = Uuid, Path, description = "The organization")),
    request_body = CreateAccount,
    responses(
        (status = 201, description = "Created", body = AccountView,
         headers(("Location" = String, description = "The new account's benefits"))),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[post("/organizations/{org_id}/accounts")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    context: RequestContext,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    body: web::Json<CreateAccount>,
) -> Result<HttpResponse, ApiError> {
    let organization = OrganizationId(path.into_inner());
    let actor = authorize_global(&caller, Action::ManageDirectory)?;
    let body = body.into_inner();
    let account = new_account(&body, organization, state.now())?;
    let location = format!("/api/v1/accounts/{}/benefits", account.id);
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, _| {
        directory::add_account(tx, &actor, &account)?;
        idempotency::stored(
            StatusCode::CREATED,
            &[(header::LOCATION, location)],
            &AccountView::from(&account),
        )
    })
    .await
}

/// The account a body describes, every field checked.
fn new_account(
    body: &CreateAccount,
    organization: OrganizationId,
    now: DateTime<Utc>,
) -> Result<PurchasingAccount, ApiError> {
    let mut fields = Fields::default();
    let name = fields.check("name", Name::parse(&body.name));
    let agreement_number = optional_reference(
        &mut fields,
        "agreement_number",
        body.agreement_number.as_deref(),
    );
    let sa_id = optional_reference(&mut fields, "sa_id", body.sa_id.as_deref());
    let program_code =
        optional_reference(&mut fields, "program_code", body.program_code.as_deref());
    valid!(fields; name, agreement_number, sa_id, program_code);
    Ok(PurchasingAccount {
        id: AccountId(Uuid::new_v4()),
        organization_id: organization,
        name,
        agreement_number,
        sa_id,
        program_code,
        created_at: now,
    })
}
