//! A unit of work: several repository operations in one write transaction, so a quantity
//! change, its ledger entry and the idempotency record of the request commit together.
//!
//! On PostgreSQL a ledger change can also run *optimistically*
//! ([`Database::write_optimistic_async`]): its reads go before any `BEGIN`, the change is
//! decided on the figures read and held back with its audit line and its kept answer, and
//! all of it is written by one statement that commits on its own and applies only if the
//! benefit is still at the version read. Two round trips instead of five; when the benefit
//! moved in between, the statement writes nothing and the work runs again in an ordinary
//! transaction. A benefit this server changed that way is kept at the version it left it
//! ([`crate::postgres::held`]): the next change of it reads nothing, and is one round trip.

use crate::{Database, DbConnection};
use diesel::connection::SimpleConnection;
use domain::audit::AuditEvent;
use domain::error::StorageError;
use domain::ids::BenefitId;
use domain::ledger::Figures;

/// How the transaction was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// By its caller, who commits it (`BEGIN` already sent).
    Open,
    /// PostgreSQL, optimistic: nothing sent yet. The first operation that needs the
    /// transaction ([`Tx::conn`]) sends `BEGIN`.
    Deferred,
    /// Optimistic, and `BEGIN` sent by [`Tx::conn`]: [`Tx::commit_deferred`] commits it, and
    /// dropping the `Tx` without that rolls it back.
    DeferredOpen,
    /// Optimistic, committed or rolled back.
    Closed,
}

/// The benefit an optimistic transaction read, as it was then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadBenefit {
    pub(crate) id: BenefitId,
    pub(crate) version: i64,
    pub(crate) figures: Option<Figures>,
}

/// An open write transaction. Obtained from [`Database::write`].
pub struct Tx<'c> {
    conn: &'c mut DbConnection,
    start: Start,
    /// Optimistic: the benefits kept from earlier changes, read instead of the database.
    held: Option<&'c crate::postgres::held::HeldCache>,
    /// Optimistic: the benefit read was the one kept (maybe stale), not the database's.
    kept_benefit: Option<BenefitId>,
    /// Optimistic: the request's key was not looked up; the change's statement, which
    /// writes the key, is refused if the key was used.
    pub(crate) key_unverified: bool,
    /// PostgreSQL: audit lines of this transaction not written yet. A ledger change takes one
    /// into its own statement (one round trip less, see `repositories::ledger`); the others
    /// are written by [`Tx::finish`], just before the COMMIT. Nothing reads the audit log
    /// inside a write transaction, so where in it a line is written changes nothing. On
    /// SQLite a line is written at once (it takes its event position there).
    pub(crate) pending_audit: Vec<AuditEvent>,
    /// PostgreSQL: the idempotency key the transaction will check, looked up with its first
    /// benefit read ([`Tx::key_ahead`]).
    pub(crate) key_ahead: Option<crate::repositories::idempotency::KeyAhead>,
    /// Optimistic: the benefit read before `BEGIN`, which a ledger change is decided on.
    pub(crate) read: Option<ReadBenefit>,
    /// Optimistic: the ledger change decided and not written yet (with its audit line).
    pub(crate) pending_change: Option<crate::repositories::ledger::PendingChange>,
    /// Optimistic: the answer to keep under the request's key, written with the change.
    pub(crate) pending_key: Option<crate::repositories::idempotency::PendingKey>,
}

/// Why an optimistic transaction did not commit.
pub(crate) enum Flush {
    /// The benefit moved since it was read, or another request kept an answer under the key
    /// first: nothing was written, and the work must run again.
    Conflict,
    Failed(StorageError),
}

impl From<StorageError> for Flush {
    fn from(e: StorageError) -> Self {
        Flush::Failed(e)
    }
}

impl<'c> Tx<'c> {
    pub(crate) fn new(conn: &'c mut DbConnection) -> Self {
        Self::with_start(conn, Start::Open)
    }

    /// An optimistic transaction on PostgreSQL: nothing is sent until it needs to be.
    pub(crate) fn deferred_on(
        conn: &'c mut DbConnection,
        held: Option<&'c crate::postgres::held::HeldCache>,
    ) -> Self {
        let mut tx = Self::with_start(conn, Start::Deferred);
        tx.held = held;
        tx
    }

    fn with_start(conn: &'c mut DbConnection, start: Start) -> Self {
        Self {
            conn,
            start,
            held: None,
            kept_benefit: None,
            key_unverified: false,
            pending_audit: Vec::new(),
            key_ahead: None,
            read: None,
            pending_change: None,
            pending_key: None,
        }
    }

    /// The connection, in the transaction: an optimistic one sends its `BEGIN` now.
    pub(crate) fn conn(&mut self) -> Result<&mut DbConnection, StorageError> {
        if self.start == Start::Deferred {
            self.conn
                .batch_execute("BEGIN")
                .map_err(crate::connect::storage)?;
            self.start = Start::DeferredOpen;
        }
        Ok(self.conn)
    }

    /// The connection for a plain read that may run before an optimistic transaction's
    /// `BEGIN` (under READ COMMITTED a statement sees what was committed when it starts,
    /// inside a transaction or not, so only a read that locks must use [`Tx::conn`]), with
    /// the key to look up ahead if it was not yet.
    pub(crate) fn read_conn(
        &mut self,
    ) -> (
        &mut DbConnection,
        Option<&mut crate::repositories::idempotency::KeyAhead>,
    ) {
        (
            self.conn,
            self.key_ahead.as_mut().filter(|a| a.found.is_none()),
        )
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.conn, DbConnection::Postgresql(_))
    }

    /// Optimistic and nothing sent yet: a ledger change may be decided on what was read.
    pub(crate) fn deferred(&self) -> bool {
        self.start == Start::Deferred
    }

    /// Optimistic: whether changes of the benefit `id` met a conflict a moment ago (a hot
    /// row): this transaction is then better ordinary from the start.
    pub(crate) fn contended(&self, id: BenefitId) -> bool {
        self.held.is_some_and(|h| h.contended(id))
    }

    /// Optimistic: the benefit `id` as kept from an earlier change, if it is.
    pub(crate) fn kept(&mut self, id: BenefitId) -> Option<domain::ports::HeldBenefit> {
        let held = self.held?.get(id)?;
        self.kept_benefit = Some(id);
        Some(held)
    }

    /// Optimistic: keeps a benefit as read from the database, for later changes.
    pub(crate) fn keep(&self, held: &domain::ports::HeldBenefit) {
        if let Some(cache) = self.held {
            cache.put(held);
        }
    }

    /// Optimistic: whether the work was decided on something not read from the database (a
    /// benefit as kept, a key not looked up): a refusal of it is not final.
    pub(crate) fn speculative(&self) -> bool {
        self.kept_benefit.is_some() || self.key_unverified
    }

    /// The benefit taken as kept instead of read, if one was.
    pub(crate) fn kept_benefit(&self) -> Option<BenefitId> {
        self.kept_benefit
    }

    /// Optimistic: the benefit the held-back change moves, from which version, to what.
    pub(crate) fn pending_move(&self) -> Option<(BenefitId, i64, Figures)> {
        self.pending_change.as_ref().map(|c| c.moves())
    }

    /// Writes what the transaction still holds back; called before its COMMIT.
    pub(crate) fn finish(&mut self) -> Result<(), StorageError> {
        for event in std::mem::take(&mut self.pending_audit) {
            crate::repositories::records::insert_audit(self.conn()?, &event)?;
        }
        Ok(())
    }

    /// Commits an optimistic transaction. Its change, with its audit line and kept answer,
    /// is one statement that commits on its own when nothing else waits; otherwise the
    /// transaction is opened (if it is not yet), everything written, and committed.
    /// [`Flush::Conflict`]: nothing was written.
    pub(crate) fn commit_deferred(&mut self) -> Result<(), Flush> {
        if !self.is_postgres() {
            return Err(Flush::Failed(StorageError(
                "an optimistic transaction on SQLite".into(),
            )));
        }
        if self.start == Start::Deferred && self.pending_audit.is_empty() {
            self.start = Start::Closed;
            // Nothing else waits: the change's statement (if any) is the whole transaction.
            return self.flush_change();
        }
        self.conn()?;
        let written = self.flush_change().and_then(|()| Ok(self.finish()?));
        let end = if written.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        self.conn
            .batch_execute(end)
            .map_err(|e| Flush::Failed(crate::connect::storage(e)))?;
        self.start = Start::Closed;
        written
    }

    /// Writes the held-back change, its audit line and its kept answer (if any) in one
    /// statement, applied only at the version the change was decided on.
    fn flush_change(&mut self) -> Result<(), Flush> {
        let (Some(change), DbConnection::Postgresql(pg)) =
            (self.pending_change.take(), &mut *self.conn)
        else {
            return Ok(());
        };
        crate::repositories::ledger::write_pending(pg, &change, self.pending_key.take().as_ref())
    }
}

impl Drop for Tx<'_> {
    /// An optimistic transaction left open (its work failed or panicked) is rolled back, so
    /// the connection goes back to the pool clean.
    fn drop(&mut self) {
        if self.start == Start::DeferredOpen {
            if let Err(e) = self.conn.batch_execute("ROLLBACK") {
                tracing::error!(error = %e, "rollback failed");
            }
        }
    }
}

impl Database {
    /// Runs `f` in one write transaction: all of it commits, or none of it.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        self.write_transaction(|conn| Tx::run(conn, f))
    }

    /// [`Database::write`], for a caller that awaits the commit's announcement on its task
    /// ([`crate::write_counter::Write::committed_later`]).
    pub(crate) fn write_announced_later<T, E>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<(T, crate::write_counter::Committed), E>
    where
        E: From<StorageError>,
    {
        self.write_transaction_later(|conn| Tx::run(conn, f))
    }
}

impl Tx<'_> {
    fn run<T, E>(
        conn: &mut crate::DbConnection,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let mut tx = Tx::new(conn);
        let value = f(&mut tx)?;
        tx.finish()?;
        Ok(value)
    }
}
