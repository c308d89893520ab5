//! Authorization of a request on an organization's resource: the rules are in
//! `domain::auth`; this looks up what they need (the partner's permission) and answers a
//! missing resource and another organization's resource with the same 404.

use crate::error::ApiError;
use crate::state::AppState;
use domain::auth::{
    authorize, needs_permission_lookup, Action, Actor, Denied, Principal, PrincipalKind,
};
use domain::ids::OrganizationId;
use domain::ports::PermissionRepository;
use domain::Localized;

/// The kinds of resources a path can name, for their 404 message.
#[derive(Debug, Clone, Copy)]
pub enum Resource {
    Organization,
    Account,
    Benefit,
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
    let permission =
        match principal.kind {
            PrincipalKind::Partner(partner) if needs_permission_lookup(principal, action) => state
                .db
                .active_permission(partner, organization, state.now())?,
            _ => None,
        };
    authorize(principal, organization, action, permission.as_ref()).map_err(|denied| match denied {
        Denied::NotFound => resource.not_found(),
        other => other.into(),
    })
}
