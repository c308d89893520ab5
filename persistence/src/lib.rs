//! SA Benefits persistence: diesel over SQLite (bundled, the default) and PostgreSQL in one
//! binary. The repositories implement the ports of `domain`.

mod batch;
mod connection;
mod convert;
mod repositories;
mod schema;
mod tx;

pub use connection::{
    create_postgres_database, Backend, Database, DatabaseUrl, DbConnection, OpenError,
};
pub use repositories::idempotency::KeyState;
pub use tx::Tx;
