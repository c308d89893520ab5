//! A unit of work: several repository operations in one write transaction, so a quantity
//! change, its ledger entry and the idempotency record of the request commit together.

use crate::{Database, DbConnection};
use domain::audit::AuditEvent;
use domain::error::StorageError;

/// An open write transaction. Obtained from [`Database::write`].
pub struct Tx<'c> {
    pub(crate) conn: &'c mut DbConnection,
    /// PostgreSQL: audit lines of this transaction not written yet. A ledger change takes one
    /// into its own statement (one round trip less, see `repositories::ledger`); the others
    /// are written by [`Tx::finish`], just before the COMMIT. Nothing reads the audit log
    /// inside a write transaction, so where in it a line is written changes nothing. On
    /// SQLite a line is written at once (it takes its event position there).
    pub(crate) pending_audit: Vec<AuditEvent>,
    /// PostgreSQL: the idempotency key the transaction will check, looked up with its first
    /// benefit read ([`Tx::key_ahead`]).
    pub(crate) key_ahead: Option<crate::repositories::idempotency::KeyAhead>,
}

impl<'c> Tx<'c> {
    pub(crate) fn new(conn: &'c mut DbConnection) -> Self {
        Self {
            conn,
            pending_audit: Vec::new(),
            key_ahead: None,
        }
    }

    /// Writes what the transaction still holds back; called before its COMMIT.
    pub(crate) fn finish(&mut self) -> Result<(), StorageError> {
        for event in std::mem::take(&mut self.pending_audit) {
            crate::repositories::records::insert_audit(self.conn, &event)?;
        }
        Ok(())
    }
}

impl Database {
    /// Runs `f` in one write transaction: all of it commits, or none of it.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        self.write_transaction(|conn| {
            let mut tx = Tx::new(conn);
            let value = f(&mut tx)?;
            tx.finish()?;
            Ok(value)
        })
    }
}
