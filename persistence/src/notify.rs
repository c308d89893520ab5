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
//! thread reconnects with back-off; waiting writers are answered once it can notify again,
//! or after [`ANNOUNCE_WAIT`].

use crate::changes::Changes;
use futures_util::stream::poll_fn;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};
use std::sync::{mpsc as std_mpsc, Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

/// The notification channel of SA Benefits servers.
pub(crate) const CHANNEL: &str = "sa_benefits_commits";
/// How the listening connections show in `pg_stat_activity`.
pub(crate) const APPLICATION_NAME: &str = "sa-benefits-listener";
/// How long a writer waits for its commit to be announced before answering anyway.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

type Done = std_mpsc::SyncSender<()>;

/// Asks the listener thread to announce a commit.
#[derive(Debug)]
pub(crate) struct Announcer {
    requests: mpsc::UnboundedSender<Done>,
    /// Whether the connection is up: while it is down, writers do not wait (their commits
    /// are announced, in one notification, once it is up again).
    listening: Arc<AtomicBool>,
}

impl Announcer {
    /// Announces a commit to the other servers and waits until it is sent. Blocking.
    pub(crate) fn announce(&self) {
        let (done, sent) = std_mpsc::sync_channel(1);
        if self.requests.send(done).is_err() {
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
}

/// Starts the listener thread for `url` and returns the change counts it keeps complete.
pub(crate) fn start(url: String) -> Arc<Changes> {
    let (requests, pending) = mpsc::unbounded_channel();
    let listening = Arc::new(AtomicBool::new(false));
    let changes = Arc::new(Changes::shared(Announcer {
        requests,
        listening: listening.clone(),
    }));
    let weak = Arc::downgrade(&changes);
    let spawned = std::thread::Builder::new()
        .name("pg-listener".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(listen(url, weak, pending, listening)),
                Err(e) => tracing::error!(error = %e, "no runtime for the PostgreSQL listener"),
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the PostgreSQL listener thread did not start");
    }
    changes
}

/// Connects, listens and announces until the database is dropped, reconnecting as needed.
async fn listen(
    url: String,
    changes: Weak<Changes>,
    mut pending: mpsc::UnboundedReceiver<Done>,
    listening: Arc<AtomicBool>,
) {
    let mut retry = RETRY_FIRST;
    let mut waiting: Vec<Done> = Vec::new();
    loop {
        let mut listened = false;
        let ended = session(
            &url,
            &changes,
            &mut pending,
            &mut waiting,
            &mut listened,
            &listening,
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
            retry = RETRY_FIRST;
        }
        tracing::warn!(error = %e, "PostgreSQL listener disconnected; cached answers are off until it listens again");
        // Writers stop waiting; what they asked for is owed, as one notification, for when
        // the connection is up again.
        let owed = !waiting.is_empty();
        waiting.clear();
        let Some(before) = drain(&mut pending) else {
            return;
        };
        tokio::time::sleep(retry).await;
        let Some(during) = drain(&mut pending) else {
            return;
        };
        if owed || before || during {
            let (placeholder, _) = std_mpsc::sync_channel(1);
            waiting.push(placeholder);
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

async fn session(
    url: &str,
    changes: &Weak<Changes>,
    pending: &mut mpsc::UnboundedReceiver<Done>,
    waiting: &mut Vec<Done>,
    listened: &mut bool,
    listening: &AtomicBool,
) -> Ended {
    let mut config: tokio_postgres::Config = match url.parse() {
        Ok(config) => config,
        Err(e) => return Ended::Lost(e.to_string()),
    };
    config.application_name(APPLICATION_NAME);
    let (client, mut connection) = match config.connect(tokio_postgres::NoTls).await {
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
        let mut messages = poll_fn(move |cx| connection.poll_message(cx));
        let reason = loop {
            match messages.next().await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if n.process_id() != own.load(SeqCst) {
                        match counted.upgrade() {
                            Some(c) => c.external(),
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
    let notify = format!("NOTIFY {CHANNEL}");
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
        if let Err(e) = client.batch_execute(&notify).await {
            // Keep the waiting writers: they are answered after the reconnection.
            return Ended::Lost(e.to_string());
        }
        for done in waiting.drain(..) {
            let _ = done.try_send(());
        }
    }
}
