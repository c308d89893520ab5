//! The benefits this server's ledger changes were last decided on, as they were at a version:
//! an optimistic change (see [`crate::tx`]) on a benefit kept here needs no read at all, and
//! is one statement. What is kept may be stale (another server, or a write of another kind,
//! moved the benefit since): the change's statement applies only at the version kept, so a
//! stale entry costs a statement that writes nothing, is forgotten, and the work runs again
//! in an ordinary transaction. Nothing is ever answered from it alone: a refusal decided on
//! it is decided again on the database (see `Database::write_optimistic_async`).
//!
//! A benefit that many requests change at once (a hot row) is marked contended for a
//! moment when a change of it meets a conflict: until then its changes run as ordinary
//! transactions at once, which wait for its row's lock in turn, instead of each deciding on
//! a version that the others are about to move, writing nothing, and running again.
//!
//! A benefit's row changes only by its figures and version (every other column is written
//! once, when it is granted), so the account and the dates kept stay true.

use domain::ids::BenefitId;
use domain::ledger::Figures;
use domain::ports::HeldBenefit;
use parking_lot::Mutex;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

/// At most this many benefits (a few hundred bytes each).
const CAPACITY: usize = 16_384;

/// At most this many benefits marked contended.
const CONTENDED_CAPACITY: usize = 1_024;

/// How long a benefit stays contended after a conflict.
const CONTENDED_FOR: Duration = Duration::from_secs(1);

pub(crate) struct HeldCache {
    kept: Mutex<lru::LruCache<BenefitId, HeldBenefit>>,
    /// When a change of each benefit last met a conflict.
    contended: Mutex<lru::LruCache<BenefitId, Instant>>,
}

impl HeldCache {
    pub(crate) fn new() -> Self {
        Self {
            kept: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(CAPACITY).expect("a capacity"),
            )),
            contended: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(CONTENDED_CAPACITY).expect("a capacity"),
            )),
        }
    }

    pub(crate) fn get(&self, id: BenefitId) -> Option<HeldBenefit> {
        self.kept.lock().get(&id).cloned()
    }

    /// Keeps `held` as read, unless a later version is kept already.
    pub(crate) fn put(&self, held: &HeldBenefit) {
        let mut kept = self.kept.lock();
        match kept.get_mut(&held.benefit.id) {
            Some(k) if k.benefit.version >= held.benefit.version => {}
            Some(k) => *k = held.clone(),
            None => {
                kept.put(held.benefit.id, held.clone());
            }
        }
    }

    /// The benefit moved from `version` to `version + 1` with `after`, by this server.
    pub(crate) fn advance(&self, id: BenefitId, version: i64, after: Option<Figures>) {
        if let Some(k) = self.kept.lock().get_mut(&id) {
            if k.benefit.version == version {
                k.benefit.version = version + 1;
                k.benefit.figures = after;
            }
        }
    }

    /// The benefit is not at the version kept.
    pub(crate) fn forget(&self, id: BenefitId) {
        self.kept.lock().pop(&id);
    }

    /// A change of the benefit met a conflict: it is forgotten, and contended for a moment.
    pub(crate) fn conflicted(&self, id: BenefitId) {
        self.forget(id);
        self.contended.lock().put(id, Instant::now());
    }

    /// Whether a change of the benefit met a conflict a moment ago.
    pub(crate) fn contended(&self, id: BenefitId) -> bool {
        self.contended
            .lock()
            .peek(&id)
            .is_some_and(|at| at.elapsed() < CONTENDED_FOR)
    }
}
