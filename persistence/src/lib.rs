//! SA Benefits persistence: diesel over SQLite (bundled, the default) and PostgreSQL in one
//! binary. The repositories implement the ports of `domain`.

mod connect;
mod connection;
mod convert;
mod fixed;
mod postgres;
mod repositories;
mod schema;
mod sqlite;
mod tx;
mod write_counter;

pub use connect::{Backend, DatabaseUrl, DbConnection, OpenError};
pub use connection::{create_postgres_database, Database, PoolState};
pub use repositories::idempotency::KeyState;
pub use tx::Tx;
pub use write_counter::{Changes, Coordination, Scope, Stamp};
