//! What handlers share.

use chrono::{DateTime, Timelike, Utc};
use domain::catalog::Catalog;
use domain::ports::Clock;
use persistence::Database;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    /// The catalog as this server last read it ([`AppState::catalog`]).
    pub catalog_store: Arc<CatalogStore>,
    pub clock: Arc<dyn Clock>,
    /// Kept answers of the benefit lists.
    pub cache: Arc<crate::cache::ListCache>,
    /// Set when the server begins to stop: `/health/ready` answers 503 so that load
    /// balancers send nothing new.
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
    /// The signing key, allowed destinations and client of webhook deliveries.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// One reader of events per organization with open streams.
    pub events: Arc<crate::events::EventHub>,
}

impl AppState {
    /// What the webhook delivery worker needs of this server.
    pub fn webhook_worker(&self) -> crate::webhooks::Worker {
        crate::webhooks::Worker {
            db: self.db.clone(),
            clock: self.clock.clone(),
            webhooks: self.webhooks.clone(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The catalog now: one cheap clone of a shared pointer, the same for the whole request.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog_store.current()
    }

    /// The catalog, read again from the database when it lacks one of `codes`: a type
    /// another server sharing the database added since this one read it. Blocking.
    pub fn catalog_covering<'a>(
        &self,
        codes: impl IntoIterator<Item = &'a domain::catalog::TypeCode>,
    ) -> Result<Arc<Catalog>, domain::error::StorageError> {
        let catalog = self.catalog();
        if codes.into_iter().all(|code| catalog.get(code).is_some()) {
            Ok(catalog)
        } else {
            self.catalog_store.refresh(&self.db)
        }
    }
}

/// The catalog in memory. Types are only ever added (`POST /benefit-types`), so a catalog read
/// once stays right but for the types added since: this server replaces it as soon as it adds
/// one; a type added by another server sharing the database is read when a benefit of that
/// type is met ([`CatalogStore::refresh`]) and by every upkeep round.
pub struct CatalogStore {
    current: parking_lot::RwLock<Arc<Catalog>>,
    /// Held from a refresh's read to its store, so refreshes store in the order they read.
    /// Without it the upkeep round's refresh, reading just before a type was added, could
    /// store its older catalog after the adding request had stored the new one: the type
    /// was then unknown to this server until the next round (a test's grant of a type it had
    /// just added was refused now and then, 422).
    refreshing: parking_lot::Mutex<()>,
}

impl CatalogStore {
    pub fn new(catalog: Catalog) -> Self {
        Self {
            current: parking_lot::RwLock::new(Arc::new(catalog)),
            refreshing: parking_lot::Mutex::new(()),
        }
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.current.read().clone()
    }

    /// Reads the catalog again from the database. Blocking.
    pub fn refresh(&self, db: &Database) -> Result<Arc<Catalog>, domain::error::StorageError> {
        use domain::ports::CatalogRepository;
        let _in_order = self.refreshing.lock();
        let catalog = Arc::new(db.catalog()?);
        *self.current.write() = catalog.clone();
        Ok(catalog)
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
