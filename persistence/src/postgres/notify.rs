//! PostgreSQL: servers that share a database tell each other of their commits. Each server
//! keeps one extra connection (its own thread, its own small runtime) that `LISTEN`s on
//! [`CHANNEL`] and counts every other server's notification as a change, and that sends this
//! server's own notifications: a writer that committed asks for one and waits for it to be
//! sent; the requests that arrive together share one `NOTIFY`. The notification goes in a
//! transaction of its own with `synchronous_commit = off`, so it never waits for a disk
//! flush and never holds the lock PostgreSQL takes for notifying transactions across a
//! writer's commit.
//!
//! When the connection drops, [`Changes`] stops being complete (nothing may be kept) and the
//! thread reconnects with capped, jittered back-off, logging once per change of state;
//! waiting writers are answered once it can notify again, or after [`ANNOUNCE_WAIT`]. The
//! connection uses TLS as `DATABASE_URL` asks ([`crate::postgres::tls`]).

use crate::postgres::tls::ListenerTls;
use crate::write_counter::{Announce, Changes, Coordination, Moved, ANNOUNCE_WAIT, STRIPES};
use futures_util::stream::poll_fn;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc as std_mpsc, Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

/// The notification channel of SA Benefits servers.
pub(crate) const CHANNEL: &str = "sa_benefits_commits";
/// How the listening connections show in `pg_stat_activity`.
pub(crate) const APPLICATION_NAME: &str = "sa-benefits-listener";
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How long a stop waits for the connection to close cleanly.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// A commit to announce: what it moved, and how to tell its writer it was announced.
type Done = (Moved, Reply);

/// How a writer hears that its commit was announced: on its thread, or on its task.
#[derive(Debug)]
enum Reply {
    Thread(std_mpsc::SyncSender<()>),
    Task(tokio::sync::oneshot::Sender<()>),
}

impl Reply {
    fn send(self) {
        match self {
            Reply::Thread(done) => {
                let _ = done.try_send(());
            }
            Reply::Task(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Asks the listener thread to announce a commit.
#[derive(Debug)]
pub(crate) struct Announcer {
    requests: mpsc::UnboundedSender<Done>,
    /// Whether the connection is up: while it is down, writers do not wait (their commits
    /// are announced, in one notification, once it is up again).
    listening: Arc<AtomicBool>,
    /// Connections made after the first (for `/metrics`).
    reconnections: Arc<AtomicU64>,
    /// Tells the listener thread to close its connection and end.
    shutdown: tokio::sync::watch::Sender<bool>,
    thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Announce for Announcer {
    fn coordination(&self) -> Coordination {
        Coordination {
            listening: self.listening.load(SeqCst),
            reconnections: self.reconnections.load(SeqCst),
        }
    }

    fn stop(&self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.lock().take() {
            if thread.join().is_err() {
                tracing::error!("the PostgreSQL listener thread panicked");
            }
        }
    }

    fn announce(&self, moved: Moved) {
        let (done, sent) = std_mpsc::sync_channel(1);
        if self.requests.send((moved, Reply::Thread(done))).is_err() {
            return; // the listener has stopped: the database is being dropped
        }
        if !self.listening.load(SeqCst) {
            return;
        }
        if let Err(std_mpsc::RecvTimeoutError::Timeout) = sent.recv_timeout(ANNOUNCE_WAIT) {
            tracing::error!(
                "a commit could not be announced to the other servers in time; their cached \
                 answers may lag until their next notification"
            );
        }
    }

    fn announce_later(&self, moved: Moved) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let (done, sent) = tokio::sync::oneshot::channel();
        if self.requests.send((moved, Reply::Task(done))).is_err() {
            return None; // the listener has stopped: the database is being dropped
        }
        // While the connection is down nobody waits (see `announce`).
        self.listening.load(SeqCst).then_some(sent)
    }
}

/// Starts the listener thread and returns the change counts it keeps complete.
pub(crate) fn start(tls: ListenerTls) -> Arc<Changes> {
    let (requests, pending) = mpsc::unbounded_channel();
    let listening = Arc::new(AtomicBool::new(false));
    let reconnections = Arc::new(AtomicU64::new(0));
    let (shutdown, stopped) = tokio::sync::watch::channel(false);
    let announcer = Arc::new(Announcer {
        requests,
        listening: listening.clone(),
        reconnections: reconnections.clone(),
        shutdown,
        thread: parking_lot::Mutex::new(None),
    });
    let changes = Arc::new(Changes::shared(announcer.clone()));
    let weak = Arc::downgrade(&changes);
    let spawned = std::thread::Builder::new()
        .name("pg-listener".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    // Each connection's task holds a sender of this channel until its
                    // connection has ended: nothing is ever sent, the channel only closes.
                    let (alive, mut all_ended) = mpsc::channel::<()>(1);
                    runtime.block_on(async move {
                        let mut stopped = stopped;
                        tokio::select! {
                            () = listen(tls, weak, pending, listening, reconnections, alive) => {}
                            _ = stopped.wait_for(|stop| *stop) => {}
                        }
                    });
                    // The listening future is gone, and its client with it: the connection
                    // tells PostgreSQL goodbye before the runtime goes (instead of being cut,
                    // "connection reset by peer" in the server's log).
                    runtime.block_on(async move {
                        let _ = tokio::time::timeout(CLOSE_WAIT, all_ended.recv()).await;
                    });
                }
                Err(e) => tracing::error!(error = %e, "no runtime for the PostgreSQL listener"),
            }
        });
    match spawned {
        Ok(thread) => {
            *announcer.thread.lock() = Some(thread);
        }
        Err(e) => tracing::error!(error = %e, "the PostgreSQL listener thread did not start"),
    }
    changes
}

/// A pause of about `retry`: between a half and the whole of it, so that servers cut off
/// together do not all come back in the same instant.
fn jittered(retry: Duration) -> Duration {
    use rand::RngExt;
    let half = retry / 2;
    half + rand::rng().random_range(Duration::ZERO..=half)
}

/// Connects, listens and announces until the database is dropped, reconnecting as needed.
async fn listen(
    tls: ListenerTls,
    changes: Weak<Changes>,
    mut pending: mpsc::UnboundedReceiver<Done>,
    listening: Arc<AtomicBool>,
    reconnections: Arc<AtomicU64>,
    alive: mpsc::Sender<()>,
) {
    let mut retry = RETRY_FIRST;
    let mut waiting: Vec<Done> = Vec::new();
    // Logged once per change of state, not at every attempt.
    let mut ever_listened = false;
    let mut failures: u64 = 0;
    loop {
        let mut listened = false;
        // A connection made after one was lost is a reconnection.
        let counter = ever_listened.then_some(reconnections.as_ref());
        let connect = Connect {
            tls: &tls,
            alive: alive.clone(),
        };
        let ended = session(
            connect,
            &changes,
            &mut pending,
            &mut waiting,
            &mut listened,
            &listening,
            counter,
        )
        .await;
        let Ended::Lost(e) = ended else {
            return;
        };
        listening.store(false, SeqCst);
        if let Some(c) = changes.upgrade() {
            c.set_complete(false);
        }
        if listened {
            // It was up: this is a change of state.
            retry = RETRY_FIRST;
            failures = 0;
            tracing::warn!(error = %e, "PostgreSQL listener disconnected: degraded (cached answers off, other servers' commits unheard) until it listens again");
        } else {
            failures += 1;
            if failures == 1 {
                tracing::warn!(error = %e, sslmode = ?tls.mode, first = !ever_listened, "PostgreSQL listener cannot connect: degraded; retrying with back-off");
            } else {
                tracing::debug!(error = %e, failures, "PostgreSQL listener still cannot connect");
            }
        }
        ever_listened |= listened;
        // Writers stop waiting; what they asked for is owed, as one notification, for when
        // the connection is up again.
        let owed = !waiting.is_empty();
        waiting.clear();
        let Some(before) = drain(&mut pending) else {
            return;
        };
        tokio::time::sleep(jittered(retry)).await;
        let Some(during) = drain(&mut pending) else {
            return;
        };
        if owed || before || during {
            let (placeholder, _) = std_mpsc::sync_channel(1);
            waiting.push((Moved::All, Reply::Thread(placeholder)));
        }
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// Takes the requests waiting in the queue (their writers no longer wait): whether there were
/// any, or `None` when the database has been dropped.
fn drain(pending: &mut mpsc::UnboundedReceiver<Done>) -> Option<bool> {
    let mut any = false;
    loop {
        match pending.try_recv() {
            Ok(_) => any = true,
            Err(mpsc::error::TryRecvError::Empty) => return Some(any),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
        }
    }
}

enum Ended {
    /// The database was dropped: stop.
    Dropped,
    /// The connection failed or dropped.
    Lost(String),
}

/// How a session connects: the settings, and the sender its connection's task holds until the
/// connection has ended (see [`start`]).
struct Connect<'a> {
    tls: &'a ListenerTls,
    alive: mpsc::Sender<()>,
}

async fn session(
    Connect { tls, alive }: Connect<'_>,
    changes: &Weak<Changes>,
    pending: &mut mpsc::UnboundedReceiver<Done>,
    waiting: &mut Vec<Done>,
    listened: &mut bool,
    listening: &AtomicBool,
    reconnection: Option<&AtomicU64>,
) -> Ended {
    let mut config: tokio_postgres::Config = match tls.url.parse() {
        Ok(config) => config,
        Err(e) => return Ended::Lost(e.to_string()),
    };
    config.application_name(APPLICATION_NAME);
    let (client, mut connection) = match config.connect(tls.connector.clone()).await {
        Ok(pair) => pair,
        Err(e) => return Ended::Lost(e.to_string()),
    };
    // Drive the connection; count the other servers' notifications as they arrive.
    let (closed_tx, mut closed) = tokio::sync::oneshot::channel::<String>();
    // This connection's backend, whose own notifications are not another server's commits
    // (0 until known: PostgreSQL's process ids are positive).
    let own_pid = Arc::new(AtomicI32::new(0));
    let counted = changes.clone();
    let own = own_pid.clone();
    tokio::spawn(async move {
        let _alive = alive;
        let mut messages = poll_fn(move |cx| connection.poll_message(cx));
        let reason = loop {
            match messages.next().await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if n.process_id() != own.load(SeqCst) {
                        match counted.upgrade() {
                            Some(c) => c.external(&moved_of(n.payload())),
                            None => break "dropped".to_owned(),
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break e.to_string(),
                None => break "connection closed".to_owned(),
            }
        };
        let _ = closed_tx.send(reason);
    });
    let setup = format!("SET synchronous_commit = off; LISTEN {CHANNEL}");
    if let Err(e) = client.batch_execute(&setup).await {
        return Ended::Lost(e.to_string());
    }
    let pid: i32 = match client.query_one("SELECT pg_backend_pid()", &[]).await {
        Ok(row) => row.get(0),
        Err(e) => return Ended::Lost(e.to_string()),
    };
    own_pid.store(pid, SeqCst);
    match changes.upgrade() {
        Some(c) => c.set_complete(true),
        None => return Ended::Dropped,
    }
    *listened = true;
    listening.store(true, SeqCst);
    if let Some(count) = reconnection {
        count.fetch_add(1, SeqCst);
    }
    tracing::info!(sslmode = ?tls.mode, "PostgreSQL listener listening: coordinated with the other servers");
    // Prepared once: `execute` with the text would parse, plan and close a statement of its
    // own for every notification, a round trip more each time the writers wait for.
    let notify = match client
        .prepare(&format!("SELECT pg_notify('{CHANNEL}', $1)"))
        .await
    {
        Ok(statement) => statement,
        Err(e) => return Ended::Lost(e.to_string()),
    };
    loop {
        if waiting.is_empty() {
            tokio::select! {
                request = pending.recv() => match request {
                    Some(done) => waiting.push(done),
                    None => return Ended::Dropped,
                },
                reason = &mut closed => {
                    return Ended::Lost(reason.unwrap_or_else(|_| "connection task ended".into()));
                }
            }
        }
        while let Ok(done) = pending.try_recv() {
            waiting.push(done);
        }
        let payload = payload_of(waiting.iter().map(|(moved, _)| moved));
        if let Err(e) = client.execute(&notify, &[&payload]).await {
            // Keep the waiting writers: they are answered after the reconnection.
            return Ended::Lost(e.to_string());
        }
        for (_, done) in waiting.drain(..) {
            done.send();
        }
    }
}

/// The notification's payload for the commits announced together: `*` when one of them
/// changed everything (or the list would not fit), `-` when they moved no counter (new
/// events only), else the counters they moved.
fn payload_of<'a>(moved: impl Iterator<Item = &'a Moved>) -> String {
    let mut stripes: Vec<u16> = Vec::new();
    for m in moved {
        match m {
            Moved::All => return "*".to_owned(),
            Moved::Stripes(s) => stripes.extend(s),
        }
    }
    stripes.sort_unstable();
    stripes.dedup();
    if stripes.is_empty() {
        return "-".to_owned();
    }
    // PostgreSQL takes up to 8000 bytes; 5 per counter.
    if stripes.len() > 1500 {
        return "*".to_owned();
    }
    stripes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What another server's notification moved: anything unreadable counts as everything.
fn moved_of(payload: &str) -> Moved {
    if payload == "-" {
        return Moved::Stripes(Vec::new());
    }
    let stripes: Option<Vec<u16>> = payload
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|i| usize::from(*i) < STRIPES)
        })
        .collect();
    match stripes {
        Some(s) if !s.is_empty() => Moved::Stripes(s),
        _ => Moved::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_names_the_counters_or_everything() {
        let moved = [Moved::Stripes(vec![3, 1]), Moved::Stripes(vec![3, 9])];
        assert_eq!(payload_of(moved.iter()), "1,3,9");
        assert_eq!(moved_of("1,3,9"), Moved::Stripes(vec![1, 3, 9]));
        let all = [Moved::Stripes(vec![3]), Moved::All];
        assert_eq!(payload_of(all.iter()), "*");
        let events_only = [Moved::Stripes(vec![])];
        assert_eq!(payload_of(events_only.iter()), "-");
        assert_eq!(moved_of("-"), Moved::Stripes(vec![]));
        for unreadable in ["*", "", "1,x", "99999", "-1"] {
            assert_eq!(moved_of(unreadable), Moved::All, "{unreadable:?}");
        }
    }
}
