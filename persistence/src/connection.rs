//! Connections: the backend is picked from the URL, migrations are embedded per backend,
//! and writes run in transactions that serialize on SQLite and PostgreSQL alike.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use domain::error::StorageError;
use std::time::Duration;

pub(crate) use crate::connect::storage;
use crate::connect::{create_private, Backend, DatabaseUrl, DbConnection, Manager, OpenError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The database: a pool of connections to one backend, and the repositories on top of it.
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    /// SQLite has one writer at a time: write transactions of this process queue here
    /// instead of in SQLite's busy handler, which sleeps with coarse back-off.
    writer: Option<std::sync::Arc<parking_lot::Mutex<()>>>,
    /// SQLite: the group-commit writer thread (see [`crate::sqlite::batch`]).
    batch: Option<crate::sqlite::batch::BatchWriter>,
    /// The writes committed, for caches of answers (see [`crate::write_counter`]).
    changes: std::sync::Arc<crate::write_counter::Changes>,
    /// PostgreSQL: the readers that stay on the request's thread (see
    /// [`crate::postgres::reader`]).
    pub(crate) reader: Option<crate::postgres::reader::Reader>,
    /// PostgreSQL: the benefits optimistic ledger changes were decided on (see
    /// [`crate::postgres::held`]).
    held: Option<std::sync::Arc<crate::postgres::held::HeldCache>>,
}

/// The pool's connections now (for `/metrics`).
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub open: u32,
    pub idle: u32,
}

impl Database {
    /// Connects (reporting the real error when it cannot), and builds the pool.
    pub fn open(raw_url: &str, max_connections: u32) -> Result<Self, OpenError> {
        init_openssl();
        let url = DatabaseUrl::parse(raw_url)?;
        if let DatabaseUrl::Sqlite(path) = &url {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| OpenError::Directory {
                    path: path.display().to_string(),
                    source,
                })?;
            }
            create_private(path).map_err(|source| OpenError::Directory {
                path: path.display().to_string(),
                source,
            })?;
        }
        // The TLS settings are read first: a bad sslmode or sslrootcert stops the start with a
        // message that names it (libpq alone would report it less clearly, or not at all).
        let listener_tls = match &url {
            DatabaseUrl::Postgres(raw) => Some(crate::postgres::tls::listener_tls(raw)?),
            DatabaseUrl::Sqlite(_) => None,
        };
        let manager = Manager { url: url.clone() };
        // One direct attempt first: r2d2 would only report a time-out.
        manager.connect().map_err(|source| OpenError::Connect {
            url: url.redacted(),
            source,
        })?;
        let checkpointer = manager.clone();
        let pool = r2d2::Pool::builder()
            .max_size(max_connections.max(1))
            .min_idle(Some(1))
            // A round trip per checkout halves the throughput of short requests; a dead
            // connection fails its request once and is then replaced (`has_broken`).
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|source| OpenError::Pool {
                url: url.redacted(),
                source,
            })?;
        let backend = url.backend();
        // SQLite: one writer turn for the process, the group-commit writer and the
        // checkpointer; PostgreSQL: a listener for the other servers' commits.
        let reader = listener_tls
            .clone()
            .map(crate::postgres::reader::Reader::new);
        let (writer, batch, changes) = match (&url, listener_tls) {
            (DatabaseUrl::Postgres(_), Some(tls)) => {
                (None, None, crate::postgres::notify::start(tls))
            }
            _ => {
                let writer = std::sync::Arc::new(parking_lot::Mutex::new(()));
                let changes = crate::write_counter::Changes::local();
                crate::sqlite::checkpoint::start(checkpointer, &changes, writer.clone());
                let batch = crate::sqlite::batch::BatchWriter::start(
                    pool.clone(),
                    writer.clone(),
                    changes.clone(),
                );
                (Some(writer), Some(batch), changes)
            }
        };
        let held = reader
            .is_some()
            .then(|| std::sync::Arc::new(crate::postgres::held::HeldCache::new()));
        Ok(Self {
            pool,
            backend,
            writer,
            batch,
            changes,
            reader,
            held,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The end of the process's use of the database, once nothing serves requests any more:
    /// the SQLite writer runs what is queued and stops, the PostgreSQL listener closes its
    /// connection, and the pool's connections are closed as this handle (the last one) goes.
    /// Everything is closed by the calling thread, before the process exits, never by a
    /// thread still running while the process's exit handlers run.
    pub fn close(self) {
        if let Some(batch) = &self.batch {
            batch.stop();
        }
        if let Some(announcer) = self.changes.announcer() {
            announcer.stop();
        }
        let Database { pool, .. } = self;
        let state = pool.state();
        if state.connections > state.idle_connections {
            tracing::warn!(
                in_use = state.connections - state.idle_connections,
                "database connections still in use at close"
            );
        }
        drop(pool);
    }

    /// PostgreSQL: closes the workers' own reading connections cleanly; reads go through the
    /// pool from now on. Call when the server begins to stop, while its workers still run.
    pub fn close_readers(&self) {
        if let Some(reader) = &self.reader {
            reader.close();
        }
    }

    /// What has been committed, for caches of answers read from this database.
    pub fn changes(&self) -> &crate::write_counter::Changes {
        &self.changes
    }

    /// Runs the pending migrations of the backend.
    pub fn migrate(&self) -> Result<(), OpenError> {
        let mut conn = self.pool.get().map_err(|source| OpenError::Pool {
            url: format!("{:?}", self.backend),
            source,
        })?;
        let result = match &mut *conn {
            DbConnection::Postgresql(c) => {
                c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ())
            }
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        };
        result.map_err(|e| OpenError::Migrate {
            url: format!("{:?}", self.backend),
            message: e.to_string(),
        })
    }

    /// Open and idle connections of the pool.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            open: state.connections,
            idle: state.idle_connections,
        }
    }

    /// Whether the database answers (for `/health/ready`).
    pub fn ping(&self) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        conn.batch_execute("SELECT 1").map_err(storage)
    }

    /// Runs `f` in a write transaction (see [`write`]), one at a time on SQLite.
    pub(crate) fn write_transaction<T, E>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        if crate::sqlite::batch::in_batch() {
            // A write job of the group-commit writer started another write transaction: it
            // would wait for the writer's turn, which it holds. Refuse rather than hang.
            return Err(E::from(StorageError(
                "a write job may not open another write transaction".into(),
            )));
        }
        let _turn = self.writer.as_ref().map(|w| w.lock());
        let mut conn = self.conn()?;
        let mut counted = self.changes.begin();
        let result = write_counted(&mut conn, &mut counted, f);
        if result.is_ok() {
            counted.committed();
        }
        result
    }

    /// [`Database::write_transaction`], whose commit's announcement the caller awaits on its
    /// task (`Write::committed_later`): the connection is back in the pool by then.
    pub(crate) fn write_transaction_later<T, E>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<(T, crate::write_counter::Committed), E>
    where
        E: From<StorageError>,
    {
        // The SQLite writer's turn, should this ever run there (its writes go through the
        // group-commit writer instead).
        let _turn = self.writer.as_ref().map(|w| w.lock());
        let mut conn = self.conn()?;
        let mut counted = self.changes.begin();
        let value = write_counted(&mut conn, &mut counted, f)?;
        Ok((value, counted.committed_later(self.changes.clone())))
    }

    /// Runs `job` in a write transaction without holding a thread while it waits: on SQLite
    /// through the group-commit writer (one commit for the jobs queued together, each in its
    /// savepoint), on PostgreSQL in a transaction of its own on the blocking pool of tokio.
    pub async fn write_async<T, E>(
        &self,
        job: impl FnOnce(&mut crate::Tx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        // The job runs on another thread, in the caller's span (a request's id in its logs).
        let span = tracing::Span::current();
        let job = move |tx: &mut crate::Tx<'_>| span.in_scope(|| job(tx));
        match &self.batch {
            Some(batch) => batch.submit(job).await,
            None => {
                let db = self.clone();
                let (value, committed) =
                    tokio::task::spawn_blocking(move || db.write_announced_later(job))
                        .await
                        .unwrap_or_else(|e| {
                            Err(E::from(StorageError(format!("a write task failed: {e}"))))
                        })?;
                committed.announced().await;
                Ok(value)
            }
        }
    }

    /// As [`Database::write_async`], for a ledger change: on PostgreSQL optimistically first
    /// (see the module's documentation), and again in an ordinary transaction if the benefit
    /// moved meanwhile. `job` may therefore run twice: it must do nothing but through its
    /// `Tx` (what the first run wrote is never committed). On SQLite, whose writer is one
    /// at a time, it runs once, in the group-commit writer.
    pub async fn write_optimistic_async<T, E>(
        &self,
        job: impl Fn(&mut crate::Tx<'_>) -> Result<T, E> + Send + Sync + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        if self.batch.is_some() {
            return self.write_async(job).await;
        }
        let span = tracing::Span::current();
        let db = self.clone();
        let (value, committed) = tokio::task::spawn_blocking(move || {
            span.in_scope(|| match db.write_deferred(&job)? {
                Some(done) => Ok(done),
                None => db.write_announced_later(&job),
            })
        })
        .await
        .unwrap_or_else(|e| Err(E::from(StorageError(format!("a write task failed: {e}")))))?;
        // The answer waits for the commit's announcement here, on this task, not on the
        // blocking thread (see `Write::committed_later`).
        committed.announced().await;
        Ok(value)
    }

    /// One optimistic run of `job`: its value and its commit, whose announcement the caller
    /// awaits (the connection is back in the pool by then); `None` when it must run again in
    /// an ordinary transaction (nothing was written): its change met a conflict, or it failed
    /// on what it could not verify without the database (a benefit as kept, a key not looked
    /// up), and the ordinary run decides it.
    fn write_deferred<T, E>(
        &self,
        job: &impl Fn(&mut crate::Tx<'_>) -> Result<T, E>,
    ) -> Result<Option<(T, crate::write_counter::Committed)>, E>
    where
        E: From<StorageError>,
    {
        let mut conn = self.conn()?;
        let mut counted = self.changes.begin();
        let mut tx = crate::Tx::deferred_on(&mut conn, self.held.as_deref());
        let value = match job(&mut tx) {
            Ok(value) => value,
            Err(e) => {
                if !tx.speculative() {
                    return Err(e);
                }
                // Perhaps decided on a benefit as kept, which may be stale: decided again
                // on the database.
                if let (Some(held), Some(id)) = (&self.held, tx.kept_benefit()) {
                    held.forget(id);
                }
                return Ok(None);
            }
        };
        let moved = tx.pending_move();
        // Still before the commit: what it changes is counted as under way.
        counted.before_commit();
        match tx.commit_deferred() {
            Ok(()) => {
                if let (Some(held), Some((id, version, after))) = (&self.held, moved) {
                    held.advance(id, version, Some(after));
                }
                Ok(Some((value, counted.committed_later(self.changes.clone()))))
            }
            Err(crate::tx::Flush::Conflict) => {
                if let (Some(held), Some((id, _, _))) = (&self.held, moved) {
                    held.conflicted(id);
                }
                Ok(None)
            }
            Err(crate::tx::Flush::Failed(e)) => Err(E::from(e)),
        }
    }

    /// Runs several reads on one consistent snapshot (a read-only repeatable-read
    /// transaction on PostgreSQL, a read transaction on SQLite's WAL), so figures and the
    /// ledger read together never straddle a concurrent write.
    pub(crate) fn read_snapshot<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self.conn()?;
        let begin = match &*conn {
            DbConnection::Postgresql(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            DbConnection::Sqlite(_) => "BEGIN",
        };
        conn.batch_execute(begin).map_err(storage)?;
        let mut guard = RollbackGuard {
            conn: &mut conn,
            open: true,
        };
        let value = f(guard.conn)?;
        guard.conn.batch_execute("COMMIT").map_err(storage)?;
        guard.open = false;
        Ok(value)
    }

    pub(crate) fn conn(&self) -> Result<r2d2::PooledConnection<Manager>, StorageError> {
        self.pool
            .get()
            .map_err(|e| StorageError(format!("no database connection: {e}")))
    }
}

/// Runs `f` in a write transaction. On SQLite the transaction takes the write lock at once
/// (`BEGIN IMMEDIATE`), so a read inside it can never be upgraded into a "database is locked"
/// failure; on PostgreSQL quantity changes rely on conditional updates and row locks inside it.
/// Any error (or panic) inside `f` rolls the transaction back.
pub(crate) fn write<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StorageError>,
{
    let begin = match conn {
        DbConnection::Postgresql(_) => "BEGIN",
        DbConnection::Sqlite(_) => "BEGIN IMMEDIATE",
    };
    conn.batch_execute(begin).map_err(storage)?;
    let mut guard = RollbackGuard { conn, open: true };
    let value = f(guard.conn)?;
    guard.conn.batch_execute("COMMIT").map_err(storage)?;
    guard.open = false;
    Ok(value)
}

/// [`write`], with what `f` changed counted as under way from just before the `COMMIT`.
fn write_counted<T, E>(
    conn: &mut DbConnection,
    counted: &mut crate::write_counter::Write<'_>,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StorageError>,
{
    write(conn, |c| {
        let value = f(c)?;
        counted.before_commit();
        Ok(value)
    })
}

/// Rolls an open transaction back when `write` leaves early (error or panic), so the
/// connection goes back to the pool clean.
struct RollbackGuard<'a> {
    conn: &'a mut DbConnection,
    open: bool,
}

impl Drop for RollbackGuard<'_> {
    fn drop(&mut self) {
        if self.open {
            if let Err(e) = self.conn.batch_execute("ROLLBACK") {
                tracing::error!(error = %e, "rollback failed");
            }
        }
    }
}

/// Initializes OpenSSL (linked for libpq) before libpq does. libpq's first connection
/// initializes it with an exit handler that frees OpenSSL's state while the process exits; a
/// thread still using a PostgreSQL connection at that moment (the listener, the event sequencer,
/// a pooled connection) then reads freed memory: a test process crashed with SIGSEGV that way
/// after all of its tests had passed. `openssl_sys::init` initializes it first without the exit
/// handler (OPENSSL_INIT_NO_ATEXIT), which wins for the whole process; the system frees the
/// memory anyway when the process ends.
fn init_openssl() {
    openssl_sys::init();
}

/// Creates a PostgreSQL database next to the one `admin_url` names and returns its URL
/// (used to give each test its own database).
pub fn create_postgres_database(admin_url: &str, name: &str) -> Result<String, OpenError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(OpenError::Url(format!("invalid database name {name:?}")));
    }
    init_openssl();
    let mut conn = PgConnection::establish(admin_url).map_err(|source| OpenError::Connect {
        url: DatabaseUrl::Postgres(admin_url.to_owned()).redacted(),
        source,
    })?;
    conn.batch_execute(&format!("CREATE DATABASE {name}"))
        .map_err(|e| OpenError::Migrate {
            url: admin_url.to_owned(),
            message: e.to_string(),
        })?;
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let cut = base
        .rfind('/')
        .filter(|&i| i > base.find("://").map_or(0, |s| s + 2));
    let root = cut.map_or(base, |i| &base[..i]);
    Ok(format!("{root}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u:p@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("data/x.db").unwrap(),
            DatabaseUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap(),
            DatabaseUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert!(DatabaseUrl::parse(":memory:").is_err());
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_new_sqlite_database_and_its_journal_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.db");
        let db = Database::open(&path.to_string_lossy(), 2).unwrap();
        db.migrate().unwrap();
        for file in ["private.db", "private.db-wal", "private.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}: {mode:o}");
        }
    }

    #[derive(diesel::QueryableByName)]
    struct PageSize {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        page_size: i32,
    }

    fn page_size(db: &Database) -> i32 {
        diesel::sql_query("PRAGMA page_size")
            .get_result::<PageSize>(&mut *db.conn().unwrap())
            .unwrap()
            .page_size
    }

    /// A new SQLite file gets 2 KiB pages (`connect.rs`: a consumption's scattered pages cost
    /// the WAL less); a file made before with 4 KiB pages keeps them and works as before.
    #[test]
    fn new_sqlite_files_get_2_kib_pages_and_old_ones_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let new = Database::open(&dir.path().join("new.db").to_string_lossy(), 2).unwrap();
        new.migrate().unwrap();
        assert_eq!(page_size(&new), 2048);

        let old_path = dir.path().join("old.db").to_string_lossy().into_owned();
        {
            use diesel::Connection;
            let mut made_before = diesel::SqliteConnection::establish(&old_path).unwrap();
            made_before
                .batch_execute("PRAGMA page_size = 4096; CREATE TABLE made_before (x INTEGER);")
                .unwrap();
        }
        let old = Database::open(&old_path, 2).unwrap();
        old.migrate().unwrap();
        assert_eq!(page_size(&old), 4096);
        write(&mut old.conn().unwrap(), |c| {
            c.batch_execute("INSERT INTO made_before VALUES (1)")
                .map_err(storage)
        })
        .unwrap();
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        let url = DatabaseUrl::parse("postgres://app:secret@db:5432/sa").unwrap();
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/sa");
    }

    #[test]
    fn a_failed_write_rolls_back_and_leaves_the_connection_usable() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("t.db").to_string_lossy(), 2).unwrap();
        db.migrate().unwrap();
        let mut conn = db.conn().unwrap();
        let failed: Result<(), StorageError> = write(&mut conn, |c| {
            c.batch_execute("INSERT INTO partners (id, name, created_at) VALUES ('p', 'P', '2026-01-01 00:00:00')")
                .map_err(storage)?;
            Err(StorageError("refused".into()))
        });
        assert!(failed.is_err());
        let ok: Result<(), StorageError> = write(&mut conn, |c| {
            c.batch_execute("INSERT INTO partners (id, name, created_at) VALUES ('q', 'Q', '2026-01-01 00:00:00')")
                .map_err(storage)
        });
        assert!(ok.is_ok(), "the connection is clean after a rollback");
        let ids: Vec<String> = diesel::sql_query("SELECT id FROM partners")
            .load::<IdRow>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec!["q".to_owned()], "the failed write left nothing");
    }

    #[derive(diesel::QueryableByName)]
    struct IdRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }

    #[derive(diesel::QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }

    #[derive(diesel::QueryableByName)]
    struct TempStore {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        temp_store: i32,
    }

    /// The bundled SQLite keeps prepared statements prepared (`.cargo/config.toml` builds it
    /// with the query planner stability guarantee: without it every statement with `LIMIT ?`
    /// is compiled again on each run), and savepoints journal in memory.
    #[test]
    fn sqlite_is_built_and_set_up_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("t.db").to_string_lossy(), 1).unwrap();
        let mut conn = db.conn().unwrap();
        let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        assert!(
            options.iter().any(|o| o == "ENABLE_QPSG"),
            "SQLite was built without SQLITE_ENABLE_QPSG: {options:?}"
        );
        let temp: Vec<TempStore> = diesel::sql_query("PRAGMA temp_store")
            .load(&mut conn)
            .unwrap();
        assert_eq!(temp[0].temp_store, 2, "temp_store = MEMORY");
    }
}
