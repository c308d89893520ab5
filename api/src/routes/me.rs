//! `GET /api/v1/me`: who the token is, so a front end can show it and choose its screens.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::blocking;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};
use domain::auth::PrincipalKind;
use domain::ports::DirectoryRepository;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// An organization or a partner, by id and name.
#[derive(Serialize, ToSchema)]
pub struct NamedRef {
    pub id: Uuid,
    /// `null` when the token names one this service does not hold.
    pub name: Option<String>,
}

/// Who calls.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"role": "customer_admin", "subject": "ana.lopez@contoso.com",
    "organization": {"id": "6d3c1a52-0b7e-4c9d-8e21-c017505a1101", "name": "Contoso Ltd"}}))]
pub struct MeView {
    #[schema(value_type = String)]
    pub role: &'static str,
    /// The token's `sub`.
    pub subject: String,
    /// The organization a customer administrator manages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<NamedRef>,
    /// The partner a partner system acts for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<NamedRef>,
}

/// Who I am
///
/// The caller's role and subject, and the organization (customer administrators) or the
/// partner (partners) the token names, with its name. Any role.
#[utoipa::path(
    tag = "organizations",
    responses((status = 200, description = "The caller", body = MeView))
)]
#[get("/me")]
pub async fn me(
    state: web::Data<AppState>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let view = blocking(move || {
        let (organization, partner) = match caller.kind {
            PrincipalKind::CustomerAdmin(org) => (
                Some(NamedRef {
                    id: org.as_uuid(),
                    name: state
                        .db
                        .organization(org)?
                        .map(|o| o.name.as_str().to_owned()),
                }),
                None,
            ),
            PrincipalKind::Partner(p) => (
                None,
                Some(NamedRef {
                    id: p.as_uuid(),
                    name: state.db.partner(p)?.map(|p| p.name.as_str().to_owned()),
                }),
            ),
            PrincipalKind::Operator => (None, None),
        };
        Ok(MeView {
            role: caller.role().code(),
            subject: caller.subject,
            organization,
            partner,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}
