//! The authorized e-mail domains of a purchasing account: who may receive the benefits that
//! require one. The rules are `domain::people`.

use crate::audit;
use crate::error::ApiError;
use crate::use_cases::users;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::Actor;
use domain::catalog::Catalog;
use domain::entities::PurchasingAccount;
use domain::people;
use domain::values::DomainName;
use domain::Localized;
use persistence::Tx;

/// Authorizes `domain` on `account` in the caller's transaction (409 when it already is).
pub fn add(
    tx: &mut Tx<'_>,
    actor: &Actor,
    account: &PurchasingAccount,
    domain: &DomainName,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    tx.add_domain(account.id, domain, now)
        .map_err(ApiError::from)?;
    tx.audit(&audit::on_account(
        actor,
        account,
        AuditAction::DomainAdded,
        TargetKind::Account.target(account.id.as_uuid()),
        Some(Localized::same(domain.as_str())),
        now,
    ))?;
    Ok(())
}

/// What a removal may take with it.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    /// The users whose address is in the domain go with it (refused while any is left
    /// otherwise).
    pub with_users: bool,
}

/// Removes `domain` from `account` in the caller's transaction, with its users when
/// `removal` says so (`domain::people::check_domain_removal`), each with its unit given back
/// where its type says so; `not_authorized` when the domain is not on the account.
pub fn remove(
    tx: &mut Tx<'_>,
    catalog: &Catalog,
    actor: &Actor,
    account: &PurchasingAccount,
    domain: &DomainName,
    removal: Removal,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let found = tx.users_in_domain(account.id, domain)?;
    people::check_domain_removal(domain, found.len(), removal.with_users)
        .map_err(|e| ApiError::refused(&e))?;
    if !tx.remove_domain(account.id, domain)? {
        return Err(not_authorized());
    }
    users::remove_in_domain(tx, catalog, actor, &found, domain.as_str(), now)?;
    tx.audit(&audit::on_account(
        actor,
        account,
        AuditAction::DomainRemoved,
        TargetKind::Account.target(account.id.as_uuid()),
        Some(Localized::same(domain.as_str())),
        now,
    ))?;
    Ok(())
}

/// A domain that is not authorized on the account: 404 like any other missing resource.
pub fn not_authorized() -> ApiError {
    ApiError::not_found(Localized::new(
        "This domain is not authorized on the account.",
        "Ce domaine n'est pas autorisé sur ce compte.",
    ))
}
