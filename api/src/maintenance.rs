//! Background upkeep, run once at start and then every few minutes: what time alone changes
//! (idempotency keys past their 24 hours, partner permissions past their end date or left
//! unanswered for 90 days, training vouchers 180 days after assignment — their days go back
//! to the pool through the ledger while the benefit is active). Reads never depend on it: a lapsed permission reads as expired
//! at once; this only records the move in its history.

use crate::extract::blocking;
use crate::state::AppState;
use domain::idempotency::IdempotencyStore;
use domain::ports::{PermissionRepository, VoucherRepository};
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
    expire_vouchers(state).await;
}

/// Records the expiry of vouchers time has expired, in batches, one transaction each.
async fn expire_vouchers(state: &AppState) {
    let state = state.clone();
    let outcome = blocking(move || {
        let mut recorded = 0usize;
        loop {
            let now = state.now();
            let due = state.db.due_voucher_expiries(now, 200)?;
            let batch = due.len();
            for id in due {
                if crate::routes::vouchers::expire(&state, id, now)? {
                    recorded += 1;
                }
            }
            if batch < 200 {
                return Ok(recorded);
            }
        }
    })
    .await;
    match outcome {
        Ok(0) => {}
        Ok(expired) => tracing::info!(expired, "voucher expiries recorded"),
        Err(e) => tracing::warn!(code = e.code, "voucher upkeep failed"),
    }
}

/// Runs the upkeep now and every [`PERIOD`] for as long as the server runs.
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
