//! Authorization of a request on an organization's resource: the rules are in
//! `domain::auth`; this looks up what they need (the partner's permission) and answers a
//! missing resource and another organization's resource with the same 404.

use crate::error::ApiError;
use crate::extract::blocking;
use crate::state::AppState;
use actix_web::web;
use chrono::{DateTime, Utc};
use domain::auth::{
    authorize_on_benefit as decide_on_benefit, needs_permission_lookup, Action, Actor, Denied,
    Principal, PrincipalKind,
};
use domain::entities::PurchasingAccount;
use domain::ids::{AccountId, BenefitId, OrganizationId};
use domain::ports::PermissionRepository;
use domain::ports::{BenefitRepository, DirectoryRepository, HeldBenefit, Portfolio};
use domain::Localized;

/// The kinds of resources a path can name, for their 404 message.
#[derive(Debug, Clone, Copy)]
pub enum Resource {
    Organization,
    Account,
    Benefit,
    Voucher,
}

impl Resource {
    /// The same answer whether the resource does not exist or is someone else's.
    pub fn not_found(self) -> ApiError {
        let (en, fr) = match self {
            Resource::Organization => (
                "No organization with this id.",
                "Aucune organisation avec cet identifiant.",
            ),
            Resource::Account => (
                "No purchasing account with this id.",
                "Aucun compte d'achats avec cet identifiant.",
            ),
            Resource::Benefit => (
                "No benefit with this id.",
                "Aucun avantage avec cet identifiant.",
            ),
            Resource::Voucher => (
                "No voucher with this id.",
                "Aucun bon avec cet identifiant.",
            ),
        };
        ApiError::not_found(Localized::new(en, fr))
    }
}

/// Decides `action` on `organization`'s resource. Blocking: call inside [`crate::extract::blocking`].
pub fn authorize_on(
    state: &AppState,
    principal: &Principal,
    organization: OrganizationId,
    action: Action,
    resource: Resource,
) -> Result<Actor, ApiError> {
    decide(state, principal, organization, action, resource, None).map(|(actor, _)| actor)
}

/// Decides `action` on a benefit held by `organization`: as [`authorize_on`], and a partner
/// acting on a benefit of a type added to the catalog after its approval needs
/// `manage_future_benefits` (`domain::auth::authorize_on_benefit`). Blocking.
pub fn authorize_on_held(
    state: &AppState,
    principal: &Principal,
    held: &HeldBenefit,
    action: Action,
    resource: Resource,
) -> Result<Actor, ApiError> {
    let catalog = state.catalog_covering([&held.benefit.type_code])?;
    let added_at = catalog
        .get(&held.benefit.type_code)
        .and_then(|t| t.added_at);
    decide(
        state,
        principal,
        held.account.organization_id,
        action,
        resource,
        added_at,
    )
    .map(|(actor, _)| actor)
}

/// [`authorize_on`] (on a benefit of a type added to the catalog at `type_added_at`, when
/// given), with when the decision stops holding by time alone (the end of the partner's
/// permission it rests on; `None` for never).
fn decide(
    state: &AppState,
    principal: &Principal,
    organization: OrganizationId,
    action: Action,
    resource: Resource,
    type_added_at: Option<DateTime<Utc>>,
) -> Result<(Actor, Option<DateTime<Utc>>), ApiError> {
    let permission =
        match principal.kind {
            PrincipalKind::Partner(partner) if needs_permission_lookup(principal, action) => state
                .db
                .active_permission(partner, organization, state.now())?,
            _ => None,
        };
    let actor = decide_on_benefit(
        principal,
        organization,
        action,
        permission.as_ref(),
        type_added_at,
    )
    .map_err(|denied| match denied {
        Denied::NotFound => resource.not_found(),
        other => other.into(),
    })?;
    Ok((actor, permission.and_then(|p| p.ends_at)))
}

/// Loads a purchasing account and checks the caller may do `action` on it. Blocking.
pub fn account_for(
    state: &AppState,
    caller: &Principal,
    id: AccountId,
    action: Action,
) -> Result<PurchasingAccount, ApiError> {
    let account = state
        .db
        .account(id)?
        .ok_or_else(|| Resource::Account.not_found())?;
    authorize_on(
        state,
        caller,
        account.organization_id,
        action,
        Resource::Account,
    )?;
    Ok(account)
}

/// Loads a benefit with its account and checks the caller may do `action` on it; the actor
/// to record. Blocking.
pub fn benefit_for(
    state: &AppState,
    caller: &Principal,
    id: BenefitId,
    action: Action,
) -> Result<(HeldBenefit, Actor), ApiError> {
    let held = state
        .db
        .benefit(id)?
        .ok_or_else(|| Resource::Benefit.not_found())?;
    let actor = authorize_on_held(state, caller, &held, action, Resource::Benefit)?;
    Ok((held, actor))
}

/// [`benefit_for`] off the async runtime, for a handler that writes next: the actor to record.
pub async fn acting_on_benefit(
    state: &web::Data<AppState>,
    caller: &Principal,
    id: BenefitId,
    action: Action,
) -> Result<Actor, ApiError> {
    let (state, caller) = (state.clone(), caller.clone());
    blocking(move || Ok(benefit_for(&state, &caller, id, action)?.1)).await
}

/// [`account_for`] off the async runtime, for a handler that writes next.
pub async fn acting_on_account(
    state: &web::Data<AppState>,
    caller: &Principal,
    id: AccountId,
    action: Action,
) -> Result<PurchasingAccount, ApiError> {
    let (state, caller) = (state.clone(), caller.clone());
    blocking(move || account_for(&state, &caller, id, action)).await
}

/// Decides `action` on a portfolio read already, with when the decision stops holding by
/// time alone. Blocking only when [`decides_in_memory`] is false.
pub fn authorize_on_portfolio(
    state: &AppState,
    caller: &Principal,
    portfolio: &Portfolio,
    action: Action,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let (_, until) = decide(
        state,
        caller,
        portfolio.account.organization_id,
        action,
        Resource::Account,
        None,
    )?;
    Ok(until)
}

/// Whether deciding `action` for `caller` reads nothing from the database (everyone but a
/// partner, whose permission is looked up), so it may run on the async runtime.
pub fn decides_in_memory(caller: &Principal, action: Action) -> bool {
    !needs_permission_lookup(caller, action)
}

/// The calling partner, for the operations on a partner's own resources (`/partners/me/…`);
/// any other caller is refused with `refusal` (403).
pub fn partner_of(
    caller: &Principal,
    refusal: Localized,
) -> Result<domain::ids::PartnerId, ApiError> {
    match caller.kind {
        PrincipalKind::Partner(p) => Ok(p),
        _ => Err(ApiError::forbidden(refusal)),
    }
}
