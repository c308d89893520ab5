//! What handlers share.

use chrono::{DateTime, Timelike, Utc};
use domain::catalog::Catalog;
use domain::ports::Clock;
use persistence::Database;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    /// Kept answers of the benefit lists.
    pub answers: Arc<crate::answers::Answers>,
    /// Set when the server begins to stop: `/health/ready` answers 503 so that load
    /// balancers send nothing new.
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The system clock, at the microsecond precision both databases keep.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}
