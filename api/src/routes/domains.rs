//! Authorized e-mail domains of a purchasing account: who may receive the benefits that
//! require one (e-learning, Home Use Program).

use super::list_schema;
use crate::access::{account_for, acting_on_account};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::{blocking, page_in_memory, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::domains::{self, not_authorized, Removal};
use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use domain::auth::{Action, Actor};
use domain::ids::AccountId;
use domain::ports::BenefitRepository;
use domain::values::DomainName;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An authorized e-mail domain.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"domain": "contoso.com"}))]
pub struct DomainView {
    /// Lower-case; an internationalized domain in its ASCII (punycode) form.
    pub domain: String,
}

list_schema!(DomainList, DomainView);

/// A domain to authorize.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"domain": "contoso.com"}))]
pub struct AddDomain {
    /// A domain name; upper case and Unicode are accepted and stored lower-case in ASCII form.
    #[schema(value_type = openapi::text::Domain)]
    pub domain: String,
}

/// `?remove_users=` of a removal.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Also remove the users with an address in the domain (their units come back where the
    /// benefit type says so). Without it, a domain with users is not removed (409).
    #[serde(default)]
    pub remove_users: bool,
}

fn parse_domain(raw: &str) -> Result<DomainName, ApiError> {
    DomainName::parse(raw).map_err(|e| ApiError::invalid("domain", e.message))
}

/// Authorized e-mail domains
///
/// The account's domains, in alphabetical order. Customer administrators, permitted partners,
/// operators.
#[utoipa::path(
    tag = "people",
    params(("account_id" = Uuid, Path, description = "The purchasing account"), ListQuery),
    responses(
        (status = 200, description = "The domains", body = DomainList),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/accounts/{account_id}/domains")]
pub async fn list(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<DomainList>, ApiError> {
    let id = AccountId(path.into_inner());
    let page = query.page()?;
    let domains = blocking(move || {
        account_for(&state, &caller, id, Action::ReadOrganization)?;
        Ok(state.db.authorized_domains(id)?)
    })
    .await?;
    let views = domains
        .iter()
        .map(|d| DomainView {
            domain: d.as_str().to_owned(),
        })
        .collect();
    let (items, next_cursor) = page_in_memory(views, &page);
    Ok(web::Json(DomainList { items, next_cursor }))
}

/// Authorize a domain
///
/// Users of benefits that require it (e-learning, Home Use Program) must have an address in
/// one of these. Stored lower-case, internationalized domains in ASCII form; an already
/// authorized domain is refused with 409 `domain_exists`. Customer administrators and
/// partners with `manage_domains`.
#[utoipa::path(
    tag = "people",
    params(("account_id" = Uuid, Path, description = "The purchasing account")),
    request_body = AddDomain,
    responses(
        (status = 201, description = "Authorized", body = DomainView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
    )
)]
#[post("/accounts/{account_id}/domains")]
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    context: RequestContext,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    body: web::Json<AddDomain>,
) -> Result<HttpResponse, ApiError> {
    let id = AccountId(path.into_inner());
    let domain = parse_domain(&body.domain)?;
    let view = DomainView {
        domain: domain.as_str().to_owned(),
    };
    let account = acting_on_account(&state, &caller, id, Action::ManageDomains).await?;
    let actor = Actor::of(&caller);
    let body = body.into_inner();
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, now| {
        domains::add(tx, &actor, &account, &domain, now)?;
        idempotency::stored(StatusCode::CREATED, &[], &view)
    })
    .await
}

/// Remove a domain
///
/// Refused with 409 `domain_in_use` (with `context.users`) while users of the account's
/// benefits have an address in it, unless `remove_users=true`, which removes them in the
/// same transaction (an e-learning participant's unit comes back; a HUP licence stays used).
/// Customer administrators and partners with `manage_domains`.
#[utoipa::path(
    tag = "people",
    params(
        ("account_id" = Uuid, Path, description = "The purchasing account"),
        ("domain" = String, Path, description = "The domain"),
        RemoveQuery,
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
    )
)]
#[delete("/accounts/{account_id}/domains/{domain}")]
pub async fn remove(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<(Uuid, String)>,
    query: web::Query<RemoveQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, raw) = path.into_inner();
    let id = AccountId(id);
    // What is not a domain name cannot be an authorized domain: 404 like any other.
    let domain = DomainName::parse(&raw).map_err(|_| not_authorized())?;
    let removal = Removal {
        with_users: query.remove_users,
    };
    blocking(move || {
        let account = account_for(&state, &caller, id, Action::ManageDomains)?;
        let actor = Actor::of(&caller);
        let (catalog, now) = (state.catalog(), state.now());
        state
            .db
            .write(|tx| domains::remove(tx, &catalog, &actor, &account, &domain, removal, now))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
