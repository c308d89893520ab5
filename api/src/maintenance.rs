//! Background upkeep, run once at start and then every few minutes: what time alone changes
//! (idempotency keys past their 24 hours, partner permissions past their end date or left
//! unanswered for 90 days). Reads never depend on it: a lapsed permission reads as expired
//! at once; this only records the move in its history.

use crate::extract::blocking;
use crate::state::AppState;
use domain::idempotency::IdempotencyStore;
use domain::ports::PermissionRepository;
use std::time::Duration;

/// How often the upkeep runs.
pub const PERIOD: Duration = Duration::from_secs(300);

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
}

/// Runs the upkeep now and every [`PERIOD`] for as long as the server runs.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(PERIOD);
        loop {
            interval.tick().await;
            run_once(&state).await;
        }
    });
}
