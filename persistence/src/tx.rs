//! A unit of work: several repository operations in one write transaction, so a quantity
//! change, its ledger entry and the idempotency record of the request commit together.

use crate::{Database, DbConnection};
use domain::error::StorageError;

/// An open write transaction. Obtained from [`Database::write`].
pub struct Tx<'c> {
    pub(crate) conn: &'c mut DbConnection,
}

impl Database {
    /// Runs `f` in one write transaction: all of it commits, or none of it.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        self.write_transaction(|conn| f(&mut Tx { conn }))
    }
}
