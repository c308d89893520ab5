//! Software benefits: a recorded download (one unit each, `domain::people::record_download`)
//! and the product keys of the keyed packages (issued on first view, every view audited).

use crate::access::{benefit_for, Resource};
use crate::audit;
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Action, Actor, Principal};
use domain::catalog::{Catalog, Software};
use domain::ids::BenefitId;
use domain::metering::LedgerEntry;
use domain::people::{self, PeopleError};
use domain::Localized;
use persistence::Tx;
use rand::RngExt;

/// Records the download of the package `software` of the benefit `id` in the caller's
/// transaction: the package and the ledger entry of its unit.
pub fn record(
    tx: &mut Tx<'_>,
    catalog: &Catalog,
    actor: &Actor,
    id: BenefitId,
    software: &str,
    now: DateTime<Utc>,
) -> Result<(Software, LedgerEntry), ApiError> {
    let held = tx
        .benefit(id)?
        .ok_or_else(|| Resource::Benefit.not_found())?;
    let benefit_type = catalog
        .get(&held.benefit.type_code)
        .ok_or_else(ApiError::internal)?;
    let (package, entry) =
        people::record_download(tx, benefit_type, &held.benefit, software, actor, now)?;
    tx.audit(&audit::on_account(
        actor,
        &held.account,
        AuditAction::DownloadRecorded,
        TargetKind::Benefit.target(id.as_uuid()),
        Some(Localized::same(package.id.clone())),
        now,
    ))?;
    Ok((package, entry))
}

/// A keyed package with its product key.
pub struct Keyed {
    pub package: Software,
    pub key: String,
}

/// The product keys of the benefit `id` for `caller`: one per keyed package, issued the
/// first time it is asked for; the view is audited. Blocking.
pub fn product_keys(
    state: &AppState,
    caller: &Principal,
    id: BenefitId,
) -> Result<Vec<Keyed>, ApiError> {
    let (held, actor) = benefit_for(state, caller, id, Action::UseDownloads)?;
    let catalog = state.catalog_covering([&held.benefit.type_code])?;
    let benefit_type = catalog
        .get(&held.benefit.type_code)
        .ok_or_else(ApiError::internal)?;
    if !benefit_type.features.has_product_keys {
        return Err(ApiError::refused(&PeopleError::NoProductKeys));
    }
    let packages = benefit_type.software.iter().filter(|s| s.keyed);
    let now = state.now();
    state.db.write(|tx| {
        let mut keys = tx.product_keys(id)?;
        for package in packages.clone() {
            if !keys.iter().any(|(s, _)| *s == package.id) {
                let key = new_product_key();
                tx.insert_product_key(id, &package.id, &key, now)?;
                keys.push((package.id.clone(), key));
            }
        }
        tx.audit(&audit::on_account(
            &actor,
            &held.account,
            AuditAction::ProductKeysViewed,
            TargetKind::Benefit.target(id.as_uuid()),
            Some(domain::audit::details::keys_viewed(keys.len())),
            now,
        ))?;
        Ok(packages
            .filter_map(|p| {
                keys.iter().find(|(s, _)| *s == p.id).map(|(_, k)| Keyed {
                    package: p.clone(),
                    key: k.clone(),
                })
            })
            .collect())
    })
}

/// Five groups of five characters from an alphabet without vowels or look-alikes.
fn new_product_key() -> String {
    const ALPHABET: &[u8] = b"BCDFGHJKMPQRTVWXY2346789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| {
            (0..5)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}
