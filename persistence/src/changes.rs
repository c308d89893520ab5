//! What the database has committed, as far as this process can tell: a count of the write
//! transactions started and finished, so that a cache of answers can check with one atomic
//! load that no write has begun since an answer was read ([`Changes::unchanged_since`]).
//!
//! A write counts from before its `BEGIN` to after its `COMMIT` (or rollback). An answer may
//! be kept only when it was read while no write was under way ([`Changes::stamp`], taken
//! before the read), and served only while no write has started since: so a kept answer
//! never misses a commit that a reader could already have seen in the database.
//!
//! On PostgreSQL several servers may share one database. Each server announces its commits
//! with a notification (sent, coalesced, before the writer answers) and counts the others'
//! as changes when they arrive ([`crate::notify`]). While its listening connection is down,
//! nothing may be kept: [`Changes::stamp`] answers `None` until it listens again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

/// The count of writes when an answer was read, if none was under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(u64);

/// Counts this process's write transactions (and the other servers' announced commits).
#[derive(Debug)]
pub struct Changes {
    started: AtomicU64,
    finished: AtomicU64,
    /// Whether every commit that matters is counted here: always on SQLite (one server per
    /// file); on PostgreSQL while the listening connection is up.
    complete: AtomicBool,
    announcer: Option<crate::notify::Announcer>,
}

impl Changes {
    /// For a database that only this process writes (SQLite).
    pub(crate) fn local() -> Arc<Self> {
        Arc::new(Self::new(true, None))
    }

    /// For a shared database: incomplete until the listener says it listens.
    pub(crate) fn shared(announcer: crate::notify::Announcer) -> Self {
        Self::new(false, Some(announcer))
    }

    fn new(complete: bool, announcer: Option<crate::notify::Announcer>) -> Self {
        Self {
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            complete: AtomicBool::new(complete),
            announcer,
        }
    }

    /// Marks the start of a write transaction; call before its `BEGIN`.
    pub(crate) fn begin(&self) -> Write<'_> {
        self.started.fetch_add(1, SeqCst);
        Write {
            changes: self,
            announce: false,
        }
    }

    /// Where the counts are now, if no write is under way and every commit is counted: an
    /// answer read after this call may be kept under the stamp.
    pub fn stamp(&self) -> Option<Stamp> {
        // `finished` first: if the two then agree, no write was under way when `started`
        // was read.
        let finished = self.finished.load(SeqCst);
        let started = self.started.load(SeqCst);
        (started == finished && self.complete.load(SeqCst)).then_some(Stamp(started))
    }

    /// Whether no write has started since `stamp` was taken (and every commit is still counted).
    pub fn unchanged_since(&self, stamp: Stamp) -> bool {
        self.started.load(SeqCst) == stamp.0 && self.complete.load(SeqCst)
    }

    /// Whether this server hears the other servers' commits: `None` on SQLite, where one
    /// server owns the file.
    pub fn coordination(&self) -> Option<crate::notify::Coordination> {
        self.announcer
            .as_ref()
            .map(crate::notify::Announcer::coordination)
    }

    pub(crate) fn announcer(&self) -> Option<&crate::notify::Announcer> {
        self.announcer.as_ref()
    }

    /// How many writes have started (for the SQLite checkpointer: whether there is anything
    /// new to copy back).
    pub(crate) fn writes_started(&self) -> u64 {
        self.started.load(SeqCst)
    }

    /// A commit made elsewhere (another server) has become visible.
    pub(crate) fn external(&self) {
        self.begin();
    }

    /// Counts stop being complete (the listener lost its connection), or are complete again
    /// (it listens). Either way, whatever was kept before is no longer current.
    pub(crate) fn set_complete(&self, complete: bool) {
        if !complete {
            self.complete.store(false, SeqCst);
        }
        self.external();
        if complete {
            self.complete.store(true, SeqCst);
        }
    }
}

/// A write under way; finished when dropped.
pub(crate) struct Write<'a> {
    changes: &'a Changes,
    announce: bool,
}

impl Write<'_> {
    /// The transaction committed: tell the other servers before finishing.
    pub(crate) fn committed(mut self) {
        self.announce = true;
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if self.announce {
            if let Some(announcer) = &self.changes.announcer {
                announcer.announce();
            }
        }
        self.changes.finished.fetch_add(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_given_only_when_no_write_is_under_way() {
        let changes = Changes::local();
        let before = changes.stamp().expect("idle");
        let write = changes.begin();
        assert_eq!(changes.stamp(), None, "a write is under way");
        assert!(!changes.unchanged_since(before), "a write has started");
        write.committed();
        let after = changes.stamp().expect("idle again");
        assert_ne!(before, after);
        assert!(changes.unchanged_since(after));
        assert!(!changes.unchanged_since(before));
    }

    #[test]
    fn a_rolled_back_write_still_ends_what_was_kept() {
        let changes = Changes::local();
        let before = changes.stamp().expect("idle");
        drop(changes.begin());
        assert!(!changes.unchanged_since(before));
        assert!(changes.stamp().is_some());
    }

    #[test]
    fn nothing_is_current_while_commits_of_other_servers_may_be_missed() {
        let changes = Changes::local();
        let before = changes.stamp().expect("idle");
        changes.set_complete(false);
        assert!(!changes.unchanged_since(before));
        assert_eq!(changes.stamp(), None);
        changes.set_complete(true);
        let after = changes.stamp().expect("complete again");
        assert!(changes.unchanged_since(after));
        changes.external();
        assert!(!changes.unchanged_since(after), "another server committed");
    }
}
