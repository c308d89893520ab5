//! How a connection is made: the backend is picked from the URL, and the pool's manager
//! opens and sets up each connection. Used by the pool and by the SQLite machinery alike.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use domain::error::StorageError;
use std::path::PathBuf;

/// One connection to either backend. `Sqlite` stays last: it accepts any string.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database location: `postgres://…` / `postgresql://…`, or a SQLite file given as a path,
/// `sqlite://path` or `sqlite:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, OpenError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        if path.is_empty() || path == ":memory:" || path.contains("://") {
            return Err(OpenError::Url(format!(
                "{raw:?} is neither postgres://… nor a SQLite file path (:memory: is refused: each pooled connection would see its own empty database)"
            )));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Postgres(_) => Backend::Postgres,
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The URL without its password, for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme), Some(at)) if at > scheme => {
                    let userinfo = &url[scheme + 3..at];
                    let user = userinfo.split(':').next().unwrap_or("");
                    format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
                }
                _ => url.clone(),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid DATABASE_URL: {0}")]
    Url(String),
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        source: diesel::ConnectionError,
    },
    #[error("cannot create the pool for {url}: {source}")]
    Pool { url: String, source: r2d2::Error },
    #[error("migrations failed on {url}: {message}")]
    Migrate { url: String, message: String },
    #[error(transparent)]
    Tls(#[from] crate::postgres::tls::TlsError),
    #[error("cannot create the directory for {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
}

/// Creates the SQLite file readable and writable by its owner only (0600) if it does not
/// exist yet. SQLite gives its `-wal` and `-shm` files the mode of the database file, so
/// they are private too. An existing file keeps the mode its owner chose.
pub(crate) fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens connections for one URL, on the backend the URL names.
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    pub(crate) url: DatabaseUrl,
}

impl Manager {
    pub(crate) fn connect(&self) -> Result<DbConnection, diesel::ConnectionError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                PgConnection::establish(url).map(DbConnection::Postgresql)
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // temp_store: the sub-journal of each job's savepoint stays in memory
                // instead of spilling to a temporary file (docs/PERFORMANCE.md).
                // wal_autocheckpoint: see [`crate::sqlite::checkpoint`].
                // page_size: 2 KiB instead of 4 for a new file (an existing one keeps its own;
                // the pragma must come before the switch to WAL, which writes the header).
                // A consumption changes one row in each of several pages that lie where its
                // keys put them (the benefit's, the ledger's two indexes by benefit, the
                // idempotency key's), and the WAL takes each such page whole: with pages half
                // as large a consumption wrote a quarter fewer bytes to the device, which
                // moved where its writes outgrow a slow disk (docs/PERFORMANCE.md, "A slow
                // disk, made here"). 1 KiB wrote little less (the file system's blocks are
                // 4 KiB) and cost a quarter of the consumptions a second.
                conn.batch_execute(
                    "PRAGMA page_size = 2048; \
                     PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; \
                     PRAGMA journal_size_limit = 67108864;",
                )
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        Manager::connect(self)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    /// Checked when a connection comes back: a panic or a failed rollback left it unusable.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::connection::TransactionManager;
        std::thread::panicking()
            || <<DbConnection as Connection>::TransactionManager as TransactionManager<
                DbConnection,
            >>::is_broken_transaction_manager(conn)
    }
}

/// Runs `query` on the backend's own connection. Through the MultiConnection diesel writes
/// the statement's SQL again on every run (its `SerializedQuery`), even when the prepared
/// statement is kept: a share of the SQLite writer's time for the inserts every consumption
/// makes (docs/PERFORMANCE.md).
pub(crate) fn execute_native<Q>(conn: &mut DbConnection, query: Q) -> diesel::QueryResult<usize>
where
    Q: diesel::query_dsl::methods::ExecuteDsl<SqliteConnection>
        + diesel::query_dsl::methods::ExecuteDsl<PgConnection>,
{
    use diesel::query_dsl::methods::ExecuteDsl;
    match conn {
        DbConnection::Sqlite(c) => <Q as ExecuteDsl<SqliteConnection>>::execute(query, c),
        DbConnection::Postgresql(c) => <Q as ExecuteDsl<PgConnection>>::execute(query, c),
    }
}

pub(crate) fn storage(e: diesel::result::Error) -> StorageError {
    StorageError(e.to_string())
}
