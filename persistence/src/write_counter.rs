//! What the database has committed, as far as this process can tell, so that a cache of
//! answers can check with a few atomic loads that nothing it shows has been written since an
//! answer was read ([`Changes::unchanged_since`]).
//!
//! Writes are counted by what they change. A write names its scopes while it runs
//! ([`touch`]: an organization, or one purchasing account — the audit line of every change
//! does it); a write that names none counts as changing everything, unless it says it
//! changes nothing an answer shows ([`unseen`]: idempotency records, deliveries). Each scope
//! counts in one of [`STRIPES`] counters (several scopes may share one: they then evict each
//! other's answers, never too few). A scope's count moves from just before its transaction's
//! `COMMIT` until after it (or the rollback). An answer may be kept only when it was read
//! while no write of its scopes was under way ([`Changes::stamp`], taken before the read),
//! and served only while no write of its scopes has started since: so a kept answer never
//! misses a commit that a reader could already have seen in the database.
//!
//! On PostgreSQL several servers may share one database. Each server announces its commits,
//! with the counters they moved, in a notification (sent, coalesced, before the writer
//! answers) and counts the others' as changes when they arrive ([`crate::postgres::notify`]). While
//! its listening connection is down, nothing may be kept: [`Changes::stamp`] answers `None`
//! until it listens again.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use uuid::Uuid;

/// How many counters the scopes share.
pub const STRIPES: usize = 4096;

/// What a write changes, as far as kept answers are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything an organization's answers show (its settings, its partner permissions).
    Organization(Uuid),
    /// One purchasing account's benefits, vouchers, users and domains.
    Account(Uuid),
}

impl Scope {
    /// Its counter: the same on every server (FNV-1a of the kind and the id).
    pub fn stripe(self) -> u16 {
        let (kind, id) = match self {
            Scope::Organization(id) => (1u8, id),
            Scope::Account(id) => (2u8, id),
        };
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in std::iter::once(kind).chain(id.as_bytes().iter().copied()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        (hash % STRIPES as u64) as u16
    }
}

/// The counts when an answer was read, if none of its writes was under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    global: u64,
    scoped: [(u16, u64); 2],
}

/// What one write changed: every answer, or the answers of these counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    All,
    Stripes(Vec<u16>),
}

/// Counts this process's write transactions (and the other servers' announced commits).
/// Tells the other servers of this server's commits and hears theirs (on PostgreSQL,
/// `postgres::notify`): the counter announces through it without knowing how.
pub(crate) trait Announce: Send + Sync + std::fmt::Debug {
    /// Announces the stripes a commit moved, and waits until it is sent. Blocking.
    fn announce(&self, moved: Moved);
    /// Asks for the stripes a commit moved to be announced, without waiting: the receiver
    /// hears when it is sent (`None`: nothing to wait for, nobody listens now).
    fn announce_later(&self, moved: Moved) -> Option<tokio::sync::oneshot::Receiver<()>>;
    /// Whether the other servers' commits are heard now.
    fn coordination(&self) -> Coordination;
    /// Closes the connection it listens on and waits for its thread to end.
    fn stop(&self);
}

/// Whether this server hears the other servers' commits (PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coordination {
    /// The listener is connected: caches are exact across servers.
    pub listening: bool,
    /// How many times it connected again after losing its connection.
    pub reconnections: u64,
}

#[derive(Debug)]
pub struct Changes {
    started: AtomicU64,
    finished: AtomicU64,
    stripes_started: Box<[AtomicU64]>,
    stripes_finished: Box<[AtomicU64]>,
    /// Every write transaction begun, whatever it changes (for the SQLite checkpointer).
    writes: AtomicU64,
    /// Whether every commit that matters is counted here: always on SQLite (one server per
    /// file); on PostgreSQL while the listening connection is up.
    complete: AtomicBool,
    announcer: Option<Arc<dyn Announce>>,
    /// Counts the commits seen (this server's and, on PostgreSQL, the others'): what waits
    /// for new events (the live streams, the webhook deliveries) wakes when it moves.
    commits: tokio::sync::watch::Sender<u64>,
    /// Moves after a commit of this server that wrote webhook deliveries.
    deliveries: tokio::sync::watch::Sender<u64>,
}

thread_local! {
    /// What the write transaction running on this thread has named so far.
    static RECORDING: RefCell<Option<Recorded>> = const { RefCell::new(None) };
}

#[derive(Default)]
struct Recorded {
    stripes: Vec<u16>,
    unseen: bool,
    /// It wrote webhook deliveries.
    deliveries: bool,
}

/// Names a scope the write transaction running on this thread changes (no-op outside one).
pub(crate) fn touch(scope: Scope) {
    RECORDING.with(|r| {
        if let Some(recorded) = r.borrow_mut().as_mut() {
            let stripe = scope.stripe();
            if !recorded.stripes.contains(&stripe) {
                recorded.stripes.push(stripe);
            }
        }
    });
}

/// Says the write transaction running on this thread wrote webhook deliveries: the delivery
/// worker is woken after its commit.
pub(crate) fn deliveries_written() {
    RECORDING.with(|r| {
        if let Some(recorded) = r.borrow_mut().as_mut() {
            recorded.deliveries = true;
        }
    });
}

/// Says the write transaction running on this thread changes nothing a kept answer shows,
/// unless it also names a scope.
pub(crate) fn unseen() {
    RECORDING.with(|r| {
        if let Some(recorded) = r.borrow_mut().as_mut() {
            recorded.unseen = true;
        }
    });
}

fn counters() -> Box<[AtomicU64]> {
    (0..STRIPES).map(|_| AtomicU64::new(0)).collect()
}

impl Changes {
    /// For a database that only this process writes (SQLite).
    pub(crate) fn local() -> Arc<Self> {
        Arc::new(Self::new(true, None))
    }

    /// For a shared database: incomplete until the listener says it listens.
    pub(crate) fn shared(announcer: Arc<dyn Announce>) -> Self {
        Self::new(false, Some(announcer))
    }

    fn new(complete: bool, announcer: Option<Arc<dyn Announce>>) -> Self {
        Self {
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            stripes_started: counters(),
            stripes_finished: counters(),
            writes: AtomicU64::new(0),
            complete: AtomicBool::new(complete),
            announcer,
            commits: tokio::sync::watch::Sender::new(0),
            deliveries: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Marks the start of a write transaction (call before its `BEGIN`): what it names is
    /// recorded until [`Write::before_commit`].
    pub(crate) fn begin(&self) -> Write<'_> {
        self.writes.fetch_add(1, SeqCst);
        RECORDING.with(|r| *r.borrow_mut() = Some(Recorded::default()));
        Write {
            changes: self,
            moved: None,
            announce: false,
            deliveries: false,
        }
    }

    /// Where the counts of an answer about `scopes` (one or two) stand now, if none of its
    /// writes is under way and every commit is counted: an answer read after this call may
    /// be kept under the stamp.
    pub fn stamp(&self, scopes: &[Scope]) -> Option<Stamp> {
        let mut scoped = [(0u16, 0u64); 2];
        for (slot, scope) in scoped.iter_mut().zip(scopes.iter().chain(scopes.iter())) {
            let i = scope.stripe();
            // Finished first: if the two then agree, none was under way when started was read.
            let finished = self.stripes_finished[usize::from(i)].load(SeqCst);
            let started = self.stripes_started[usize::from(i)].load(SeqCst);
            if started != finished {
                return None;
            }
            *slot = (i, started);
        }
        if scopes.is_empty() {
            let any = Scope::Organization(Uuid::nil()).stripe();
            scoped = [(any, self.stripes_started[usize::from(any)].load(SeqCst)); 2];
        }
        let finished = self.finished.load(SeqCst);
        let started = self.started.load(SeqCst);
        (started == finished && self.complete.load(SeqCst)).then_some(Stamp {
            global: started,
            scoped,
        })
    }

    /// Whether no write of the stamp's scopes (nor one of everything) has started since it
    /// was taken, and every commit is still counted.
    pub fn unchanged_since(&self, stamp: Stamp) -> bool {
        self.started.load(SeqCst) == stamp.global
            && stamp
                .scoped
                .iter()
                .all(|(i, n)| self.stripes_started[usize::from(*i)].load(SeqCst) == *n)
            && self.complete.load(SeqCst)
    }

    /// Whether this server hears the other servers' commits: `None` on SQLite, where one
    /// server owns the file.
    pub fn coordination(&self) -> Option<Coordination> {
        self.announcer.as_ref().map(|a| a.coordination())
    }

    pub(crate) fn announcer(&self) -> Option<&dyn Announce> {
        self.announcer.as_deref()
    }

    /// How many writes have started (for the SQLite checkpointer: whether there is anything
    /// new to copy back).
    pub(crate) fn writes_started(&self) -> u64 {
        self.writes.load(SeqCst)
    }

    fn start(&self, moved: &Moved) {
        match moved {
            Moved::All => {
                self.started.fetch_add(1, SeqCst);
            }
            Moved::Stripes(stripes) => {
                for i in stripes {
                    self.stripes_started[usize::from(*i)].fetch_add(1, SeqCst);
                }
            }
        }
    }

    fn finish(&self, moved: &Moved) {
        match moved {
            Moved::All => {
                self.finished.fetch_add(1, SeqCst);
            }
            Moved::Stripes(stripes) => {
                for i in stripes {
                    self.stripes_finished[usize::from(*i)].fetch_add(1, SeqCst);
                }
            }
        }
    }

    /// A commit made elsewhere (another server) has become visible.
    pub(crate) fn external(&self, moved: &Moved) {
        self.start(moved);
        self.finish(moved);
        self.commits.send_modify(|n| *n += 1);
    }

    /// Moves after every commit seen; a receiver sees the latest count, so waiters that fall
    /// behind read what is new once instead of once per commit.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Moves after every commit of this server that wrote webhook deliveries (the others'
    /// are found by the delivery worker's periodic look).
    pub fn deliveries(&self) -> tokio::sync::watch::Receiver<u64> {
        self.deliveries.subscribe()
    }

    /// Counts stop being complete (the listener lost its connection), or are complete again
    /// (it listens). Either way, whatever was kept before is no longer current.
    pub(crate) fn set_complete(&self, complete: bool) {
        if !complete {
            self.complete.store(false, SeqCst);
        }
        self.external(&Moved::All);
        if complete {
            self.complete.store(true, SeqCst);
        }
    }
}

/// A write under way; finished when dropped.
pub(crate) struct Write<'a> {
    changes: &'a Changes,
    /// The counters moved at [`Write::before_commit`].
    moved: Option<Moved>,
    announce: bool,
    deliveries: bool,
}

impl Write<'_> {
    /// Call after the transaction's work and before its `COMMIT`: moves the counters of what
    /// it named (or of everything when it named nothing and did not say it is unseen).
    pub(crate) fn before_commit(&mut self) {
        let recorded = RECORDING
            .with(|r| r.borrow_mut().take())
            .unwrap_or_default();
        self.deliveries = recorded.deliveries;
        let moved = if !recorded.stripes.is_empty() || recorded.unseen {
            // No counter for an unseen write: it is still announced (it may hold events).
            Some(Moved::Stripes(recorded.stripes))
        } else {
            Some(Moved::All)
        };
        if let Some(moved) = &moved {
            self.changes.start(moved);
        }
        self.moved = moved;
    }

    /// The transaction committed: tell the other servers before finishing.
    pub(crate) fn committed(mut self) {
        self.announce = true;
    }

    /// The transaction committed: its announcement is asked for now and waited for by
    /// [`Committed::announced`], on an async task. Waiting on the thread that ran the
    /// transaction held that thread, its connection and one of the blocking pool's permits
    /// through the notification's round trip; waiting writers then crowded out new
    /// transactions, and each notification carried fewer commits.
    pub(crate) fn committed_later(mut self, changes: Arc<Changes>) -> Committed {
        // Disarmed: the write is finished by the `Committed`, after its announcement.
        let moved = self.moved.take();
        let announced = match (&changes.announcer, &moved) {
            (Some(announcer), Some(moved)) => announcer.announce_later(moved.clone()),
            _ => None,
        };
        Committed {
            changes,
            moved,
            deliveries: self.deliveries,
            announced,
        }
    }
}

/// A committed write whose announcement is under way ([`Write::committed_later`]). It
/// finishes the write when dropped, whether its announcement was waited for or not (a request
/// given up by its client still finishes its write: the counts never stay under way).
#[must_use = "the writer answers once its commit is announced: await `announced`"]
pub(crate) struct Committed {
    changes: Arc<Changes>,
    moved: Option<Moved>,
    deliveries: bool,
    announced: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Committed {
    /// Waits until the commit is announced to the other servers (at most
    /// [`ANNOUNCE_WAIT`]), then finishes the write.
    pub(crate) async fn announced(mut self) {
        if let Some(sent) = self.announced.take() {
            if tokio::time::timeout(ANNOUNCE_WAIT, sent).await.is_err() {
                tracing::error!(
                    "a commit could not be announced to the other servers in time; their cached \
                     answers may lag until their next notification"
                );
            }
        }
    }
}

impl Drop for Committed {
    fn drop(&mut self) {
        if let Some(moved) = &self.moved {
            self.changes.finish(moved);
        }
        self.changes.commits.send_modify(|n| *n += 1);
        if self.deliveries {
            self.changes.deliveries.send_modify(|n| *n += 1);
        }
    }
}

/// How long a writer waits for its commit to be announced before answering anyway.
pub(crate) const ANNOUNCE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Drop for Write<'_> {
    fn drop(&mut self) {
        RECORDING.with(|r| r.borrow_mut().take());
        if self.announce {
            if let (Some(announcer), Some(moved)) = (&self.changes.announcer, &self.moved) {
                announcer.announce(moved.clone());
            }
        }
        if let Some(moved) = &self.moved {
            self.changes.finish(moved);
        }
        if self.announce {
            self.changes.commits.send_modify(|n| *n += 1);
            if self.deliveries {
                self.changes.deliveries.send_modify(|n| *n += 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(n: u128) -> Scope {
        Scope::Organization(Uuid::from_u128(n))
    }

    /// A write that names `scopes` (none: everything), committed.
    fn write(changes: &Changes, scopes: &[Scope]) {
        let mut w = changes.begin();
        for s in scopes {
            touch(*s);
        }
        w.before_commit();
        w.committed();
    }

    #[test]
    fn a_stamp_is_given_only_when_no_write_of_its_scopes_is_under_way() {
        let changes = Changes::local();
        let before = changes.stamp(&[org(1)]).expect("idle");
        let mut w = changes.begin();
        touch(org(1));
        w.before_commit();
        assert_eq!(changes.stamp(&[org(1)]), None, "a write is under way");
        assert!(!changes.unchanged_since(before), "a write has started");
        w.committed();
        let after = changes.stamp(&[org(1)]).expect("idle again");
        assert_ne!(before, after);
        assert!(changes.unchanged_since(after));
        assert!(!changes.unchanged_since(before));
    }

    #[test]
    fn a_write_of_one_scope_leaves_the_others_answers_alone() {
        let changes = Changes::local();
        let (one, two) = (org(1), org(2));
        assert_ne!(one.stripe(), two.stripe(), "these two share no counter");
        let of_two = changes
            .stamp(&[two, Scope::Account(Uuid::from_u128(7))])
            .unwrap();
        write(&changes, &[one]);
        assert!(
            changes.unchanged_since(of_two),
            "another organization's write"
        );
        write(&changes, &[Scope::Account(Uuid::from_u128(7))]);
        assert!(!changes.unchanged_since(of_two), "a write of its account");
    }

    #[test]
    fn a_write_that_names_nothing_changes_everything_unless_unseen() {
        let changes = Changes::local();
        let stamp = changes.stamp(&[org(1)]).unwrap();
        let mut w = changes.begin();
        unseen();
        w.before_commit();
        w.committed();
        assert!(changes.unchanged_since(stamp), "an unseen write");
        write(&changes, &[]);
        assert!(!changes.unchanged_since(stamp), "a write of everything");
    }

    #[test]
    fn a_rolled_back_write_still_ends_what_was_kept() {
        let changes = Changes::local();
        let before = changes.stamp(&[org(1)]).expect("idle");
        let mut w = changes.begin();
        touch(org(1));
        w.before_commit();
        drop(w);
        assert!(!changes.unchanged_since(before));
        assert!(changes.stamp(&[org(1)]).is_some());
    }

    #[test]
    fn nothing_is_current_while_commits_of_other_servers_may_be_missed() {
        let changes = Changes::local();
        let before = changes.stamp(&[org(1)]).expect("idle");
        changes.set_complete(false);
        assert!(!changes.unchanged_since(before));
        assert_eq!(changes.stamp(&[org(1)]), None);
        changes.set_complete(true);
        let after = changes.stamp(&[org(1)]).expect("complete again");
        assert!(changes.unchanged_since(after));
        changes.external(&Moved::Stripes(vec![org(2).stripe()]));
        assert!(
            changes.unchanged_since(after),
            "another organization, on another server"
        );
        changes.external(&Moved::Stripes(vec![org(1).stripe()]));
        assert!(
            !changes.unchanged_since(after),
            "this one, on another server"
        );
    }

    /// An announcer whose notifications are sent when the test says so.
    #[derive(Debug, Default)]
    struct Held {
        replies: parking_lot::Mutex<Vec<tokio::sync::oneshot::Sender<()>>>,
    }

    impl Held {
        fn send_all(&self) {
            for reply in self.replies.lock().drain(..) {
                let _ = reply.send(());
            }
        }
    }

    impl Announce for Held {
        fn announce(&self, _: Moved) {}
        fn announce_later(&self, _: Moved) -> Option<tokio::sync::oneshot::Receiver<()>> {
            let (done, sent) = tokio::sync::oneshot::channel();
            self.replies.lock().push(done);
            Some(sent)
        }
        fn coordination(&self) -> Coordination {
            Coordination {
                listening: true,
                reconnections: 0,
            }
        }
        fn stop(&self) {}
    }

    /// A write of organization 1 committed on a shared database, its announcement asked for.
    fn committed_later() -> (Arc<Held>, Arc<Changes>, Committed) {
        let announcer = Arc::new(Held::default());
        let changes = Arc::new(Changes::shared(announcer.clone()));
        changes.set_complete(true);
        let mut w = changes.begin();
        touch(org(1));
        w.before_commit();
        let committed = w.committed_later(changes.clone());
        (announcer, changes, committed)
    }

    /// A commit announced later is under way until its announcement is sent: no answer of
    /// its scopes is kept before the other servers may have heard of it.
    #[tokio::test]
    async fn a_commit_announced_later_is_under_way_until_it_is_announced() {
        let (announcer, changes, committed) = committed_later();
        assert_eq!(changes.stamp(&[org(1)]), None, "not announced yet");
        assert!(changes.stamp(&[org(2)]).is_some(), "another organization");
        let mut commits = changes.commits();
        commits.borrow_and_update();
        let waiting = tokio::spawn(committed.announced());
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "the writer waits for its announcement"
        );
        assert_eq!(changes.stamp(&[org(1)]), None);
        announcer.send_all();
        waiting.await.unwrap();
        assert!(changes.stamp(&[org(1)]).is_some(), "announced: finished");
        assert!(
            commits.has_changed().unwrap(),
            "the commit wakes the streams"
        );
    }

    /// A writer that stops waiting (its client gave up) still finishes its write, or no
    /// answer of its scopes would ever be kept again.
    #[tokio::test]
    async fn a_commit_whose_writer_stops_waiting_is_still_finished() {
        let (_announcer, changes, committed) = committed_later();
        let waiting = tokio::spawn(committed.announced());
        tokio::task::yield_now().await;
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        assert!(changes.stamp(&[org(1)]).is_some(), "finished when dropped");
    }
}
