//! Background upkeep, run once at start and then every few minutes: what time alone changes
//! (idempotency keys past their 24 hours, partner permissions past their end date or left
//! unanswered for 90 days — both sides are told —, training vouchers 180 days after
//! assignment — their days go back to the pool through the ledger while the benefit is
//! active —, benefits that ended with units left — one `expiry` entry each). Reads never depend on it: a lapsed permission reads as expired
//! at once; this only records the move in its history.

use crate::audit;
use crate::error::ApiError;
use crate::extract::blocking;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use domain::audit::{details, AuditAction, TargetKind};
use domain::auth::Actor;
use domain::error::WriteError;
use domain::idempotency::IdempotencyStore;
use domain::ids::BenefitId;
use domain::metering;
use domain::ports::{BenefitRepository, EventRepository, PermissionRepository, VoucherRepository};
use std::time::Duration;

/// How often the upkeep runs.
pub const PERIOD: Duration = Duration::from_secs(60);

/// One round of upkeep.
pub async fn run_once(state: &AppState) {
    let (db, now) = (state.db.clone(), state.now());
    match blocking(move || Ok(db.purge_expired(now)?)).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "expired idempotency keys purged"),
        Err(e) => tracing::warn!(code = e.code, "idempotency upkeep failed"),
    }
    let (db, now) = (state.db.clone(), state.now());
    match blocking(move || Ok(db.record_permission_expiries(now)?)).await {
        Ok(0) => {}
        Ok(expired) => tracing::info!(expired, "permission expiries recorded"),
        Err(e) => tracing::warn!(code = e.code, "permission upkeep failed"),
    }
    // A partner's delivery history goes back as far as the events are kept.
    let (db, before) = (
        state.db.clone(),
        state.now() - chrono::Duration::days(domain::events::KEPT_DAYS),
    );
    match blocking(move || Ok(db.purge_deliveries(before)?)).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "finished webhook deliveries purged"),
        Err(e) => tracing::warn!(code = e.code, "webhook delivery upkeep failed"),
    }
    expire_vouchers(state).await;
    expire_benefits(state).await;
    // Types another server sharing the database added to the catalog.
    let store = state.clone();
    if let Err(e) = blocking(move || Ok(store.catalog_store.refresh(&store.db)?)).await {
        tracing::warn!(code = e.code, "catalog refresh failed");
    }
}

/// Records the lapse of benefits that ended with units left: one `expiry` ledger entry each
/// (PRODUCT.md §4), in batches, one transaction per benefit.
async fn expire_benefits(state: &AppState) {
    sweep(
        state,
        "benefit",
        |s, now| s.db.due_benefit_expiries(now, BATCH),
        expire_benefit,
    )
    .await
}

/// Records the expiry of vouchers time has expired, in batches, one transaction each.
async fn expire_vouchers(state: &AppState) {
    sweep(
        state,
        "voucher",
        |s, now| s.db.due_voucher_expiries(now, BATCH),
        crate::use_cases::vouchers::expire,
    )
    .await
}

/// How many due items one round of a sweep reads at a time.
const BATCH: i64 = 200;

/// Reads what time made due in batches of [`BATCH`] and records each with `expire` (true
/// when it wrote something), until a batch comes back short; logs what it did.
async fn sweep<I, E>(
    state: &AppState,
    what: &'static str,
    due: fn(&AppState, DateTime<Utc>) -> Result<Vec<I>, E>,
    expire: fn(&AppState, I, DateTime<Utc>) -> Result<bool, ApiError>,
) where
    I: Send + 'static,
    ApiError: From<E>,
    E: 'static,
{
    let state = state.clone();
    let outcome = blocking(move || {
        let mut recorded = 0usize;
        loop {
            let now = state.now();
            let batch = due(&state, now)?;
            let read = batch.len();
            for id in batch {
                if expire(&state, id, now)? {
                    recorded += 1;
                }
            }
            if (read as i64) < BATCH {
                return Ok::<_, ApiError>(recorded);
            }
        }
    })
    .await;
    match outcome {
        Ok(0) => {}
        Ok(expired) => tracing::info!(expired, what, "expiries recorded"),
        Err(e) => tracing::warn!(code = e.code, what, "expiry upkeep failed"),
    }
}

/// Records the expiry of one benefit, if it is due: the ledger entry and its audit line.
/// Blocking.
pub fn expire_benefit(
    state: &AppState,
    id: BenefitId,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let actor = Actor::time("benefit expiry");
    state.db.write(|tx| {
        let Some(held) = tx.benefit(id)? else {
            return Ok(false);
        };
        let entry = match metering::record_expiry(tx, &held.benefit, &actor, now) {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(false),
            // Units were given back or taken meanwhile: the next round sees the new figures.
            Err(WriteError::Refused(_)) => return Ok(false),
            Err(WriteError::Storage(e)) => return Err(e.into()),
        };
        tx.audit(&audit::on_account(
            &actor,
            &held.account,
            AuditAction::BenefitExpired,
            TargetKind::Benefit.target(id.as_uuid()),
            Some(details::benefit_expired(-entry.amount, held.benefit.unit)),
            entry.created_at,
        ))?;
        Ok(true)
    })
}

/// Runs the upkeep every [`PERIOD`] until `stop` turns true; a round under way is finished.
pub fn spawn(
    state: AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(PERIOD);
        loop {
            tokio::select! {
                _ = interval.tick() => run_once(&state).await,
                _ = stop.changed() => return,
            }
        }
    })
}
