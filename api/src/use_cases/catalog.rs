//! Adding a type to the benefit catalog (operators). The rules of a new type are
//! `domain::catalog::NewType::define`.

use crate::audit;
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::Actor;
use domain::catalog::{BenefitType, CatalogError, NewType, TypeCode};
use domain::Localized;
use persistence::Tx;
use uuid::Uuid;

/// Adds `draft` to the catalog as this transaction sees it (a type another server just
/// added counts): 409 when its code is taken; its audit line.
pub fn add_type(
    tx: &mut Tx<'_>,
    actor: &Actor,
    draft: NewType,
    now: DateTime<Utc>,
) -> Result<BenefitType, ApiError> {
    let catalog = tx.catalog()?;
    let added = draft
        .define(&catalog, now)
        .map_err(|e| ApiError::refused(&e))?;
    if !tx.insert_type(&added)? {
        return Err(ApiError::refused(&CatalogError::CodeTaken {
            code: added.code.as_str().to_owned(),
        }));
    }
    tx.audit(&audit::event(
        actor,
        None,
        AuditAction::BenefitTypeAdded,
        TargetKind::BenefitType.target(type_target(&added.code)),
        Some(Localized::new(
            format!("{} ({})", added.name.en, added.code.as_str()),
            format!("{} ({})", added.name.fr, added.code.as_str()),
        )),
        now,
    ))?;
    Ok(added)
}

/// Makes this server's catalog what the database holds, once a type was added. Blocking.
pub fn refresh(state: &AppState) -> Result<(), ApiError> {
    state.catalog_store.refresh(&state.db)?;
    Ok(())
}

/// The audit log names a catalog type by a UUID derived from its code (the same every time).
fn type_target(code: &TypeCode) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("sa-benefits/benefit-type/{}", code.as_str()).as_bytes(),
    )
}
