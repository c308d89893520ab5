//! Group commit for SQLite. SQLite has one writer at a time, so instead of many threads
//! queuing on it (each paying a hand-off, a lock and a commit), one writer thread takes the
//! jobs waiting in its queue, runs each in a savepoint of one transaction (a refused job
//! rolls back to its savepoint and leaves the others alone), commits once, and only then
//! answers every job. Jobs still run one after the other, so every rule that holds for a
//! lone transaction holds here; an answer is never given before its commit.

use crate::connect::{storage, Manager};
use crate::tx::Tx;
use crate::write_counter::Changes;
use crate::DbConnection;
use diesel::connection::SimpleConnection;
use domain::error::StorageError;
use parking_lot::{Mutex, MutexGuard};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;

/// What a job leaves to do once the batch's commit is known: answer its caller.
type Deliver = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
/// A job: runs in the transaction, says whether it succeeded, and how to answer.
type Job = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Deliver) + Send>;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 64;

thread_local! {
    /// Set on the writer thread: a job that opened another write transaction would wait
    /// forever for the writer's own turn.
    static IN_BATCH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is the writer running a batch (then no other write may start here).
pub(crate) fn in_batch() -> bool {
    IN_BATCH.with(std::cell::Cell::get)
}

/// What the writer thread is given: a job, or the order to stop once the jobs queued before
/// it are done.
enum Message {
    Job(Job),
    Stop,
}

/// The queue of the writer thread.
#[derive(Clone)]
pub(crate) struct BatchWriter {
    queue: mpsc::Sender<Message>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl BatchWriter {
    /// Starts the writer thread; it ends when the last clone of the queue is dropped.
    pub(crate) fn start(
        pool: r2d2::Pool<Manager>,
        writer: Arc<Mutex<()>>,
        changes: Arc<Changes>,
    ) -> BatchWriter {
        let (queue, jobs) = mpsc::channel::<Message>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&pool, &writer, &changes, &jobs))
            .expect("the SQLite writer thread starts");
        BatchWriter {
            queue,
            thread: Arc::new(Mutex::new(Some(thread))),
        }
    }

    /// Drains the queue and stops the writer thread: every job queued before is run and
    /// answered; later ones are answered "stopped". Returns once the thread has ended.
    pub(crate) fn stop(&self) {
        let _ = self.queue.send(Message::Stop);
        if let Some(thread) = self.thread.lock().take() {
            if thread.join().is_err() {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
    }

    /// Queues `job` and waits (asynchronously) for its answer after the commit.
    pub(crate) async fn submit<T, E>(
        &self,
        job: impl FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let boxed: Job = Box::new(move |tx: &mut Tx<'_>| {
            let result = job(tx);
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |commit| {
                let outcome = match (result, commit) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(e)) => Err(E::from(e)),
                    (Err(e), _) => Err(e),
                };
                let _ = answer.send(outcome);
            });
            (ok, deliver)
        });
        if self.queue.send(Message::Job(boxed)).is_err() {
            return Err(E::from(StorageError(
                "the SQLite writer has stopped".into(),
            )));
        }
        answered.await.unwrap_or_else(|_| {
            Err(E::from(StorageError(
                "a write job was lost (it panicked or the batch could not start)".into(),
            )))
        })
    }
}

fn run(
    pool: &r2d2::Pool<Manager>,
    writer: &Mutex<()>,
    changes: &Changes,
    jobs: &mpsc::Receiver<Message>,
) {
    IN_BATCH.with(|flag| flag.set(true));
    let mut stopping = false;
    while !stopping {
        let first = match jobs.recv() {
            Ok(Message::Job(job)) => job,
            Ok(Message::Stop) | Err(_) => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(Message::Job(job)) => batch.push(job),
                Ok(Message::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let turn = writer.lock();
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                tracing::error!(error = %e, "no connection for a batch of writes");
                continue; // dropping the jobs answers them with an error
            }
        };
        run_batch(&mut conn, changes, batch);
        drop(conn);
        // Handed straight to a waiting writer (a write transaction, the checkpointer): this
        // thread would otherwise take the turn again at once, batch after batch.
        MutexGuard::unlock_fair(turn);
    }
}

fn run_batch(conn: &mut DbConnection, changes: &Changes, batch: Vec<Job>) {
    let mut counted = changes.begin();
    if let Err(e) = conn.batch_execute("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin a batch of writes");
        return;
    }
    let mut delivers = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = conn.batch_execute("SAVEPOINT job") {
            tracing::error!(error = %e, "cannot open a savepoint");
            break;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| job(&mut Tx::new(&mut *conn))));
        let kept = match &outcome {
            Ok((true, _)) => conn.batch_execute("RELEASE job"),
            _ => conn.batch_execute("ROLLBACK TO job; RELEASE job"),
        };
        if let Ok((_, deliver)) = outcome {
            delivers.push(deliver);
        }
        if let Err(e) = kept {
            tracing::error!(error = %e, "cannot close a savepoint");
            break;
        }
    }
    // Still before the COMMIT: what the jobs changed is counted as under way.
    counted.before_commit();
    let commit = conn.batch_execute("COMMIT").map_err(storage);
    if commit.is_err() {
        if let Err(e) = conn.batch_execute("ROLLBACK") {
            tracing::error!(error = %e, "rollback of a failed batch failed");
        }
    }
    counted.committed();
    for deliver in delivers {
        deliver(commit.clone());
    }
}
