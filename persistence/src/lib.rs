//! SA Benefits persistence: diesel over SQLite (bundled, the default) and PostgreSQL in one
//! binary. The repositories implement the ports of `domain`.

mod batch;
mod changes;
mod checkpoint;
mod connection;
mod convert;
mod fixed;
mod notify;
mod postgres;
mod repositories;
mod schema;
mod tx;

pub use changes::{Changes, Stamp};
pub use connection::{
    create_postgres_database, Backend, Database, DatabaseUrl, DbConnection, OpenError,
};
pub use notify::Coordination;
pub use repositories::idempotency::KeyState;
pub use tx::Tx;
