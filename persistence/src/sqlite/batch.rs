//! Group commit for SQLite. SQLite has one writer at a time, so instead of many threads
//! queuing on it (each paying a hand-off, a lock and a commit), one writer thread runs the
//! jobs of its queue each in a savepoint of one transaction (a refused job rolls back to its
//! savepoint and leaves the others alone), commits once, and only then answers every job.
//! Jobs still run one after the other, so every rule that holds for a lone transaction holds
//! here; an answer is never given before its commit.
//!
//! A batch takes the jobs queued when it begins and those queued while it runs, until the
//! queue is empty (or [`MAX_BATCH`]); it never waits for one. A commit writes each page its
//! jobs changed once, so the jobs that arrive while earlier ones run share its pages: the
//! tables' last pages and their indexes' (docs/PERFORMANCE.md, "A slow disk, made here").

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
        let turn = writer.lock();
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                tracing::error!(error = %e, "no connection for a batch of writes");
                continue; // dropping the job answers it with an error
            }
        };
        stopping = run_batch(&mut conn, changes, first, jobs);
        drop(conn);
        // Handed straight to a waiting writer (a write transaction, the checkpointer): this
        // thread would otherwise take the turn again at once, batch after batch.
        MutexGuard::unlock_fair(turn);
    }
}

/// The next job of a batch, if one is queued. `Err(true)`: the order to stop came.
fn next_job(jobs: &mpsc::Receiver<Message>) -> Result<Job, bool> {
    match jobs.try_recv() {
        Ok(Message::Job(job)) => Ok(job),
        Ok(Message::Stop) => Err(true),
        Err(_) => Err(false),
    }
}

/// Runs `first` and the jobs queued until the queue is empty in one transaction; true when
/// the order to stop came meanwhile.
fn run_batch(
    conn: &mut DbConnection,
    changes: &Changes,
    first: Job,
    jobs: &mpsc::Receiver<Message>,
) -> bool {
    let mut counted = changes.begin();
    if let Err(e) = conn.batch_execute("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin a batch of writes");
        return false;
    }
    let mut stopping = false;
    let mut ran = 0;
    let mut delivers = Vec::new();
    let mut next = Some(first);
    while let Some(job) = next.take() {
        ran += 1;
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
        if ran < MAX_BATCH {
            match next_job(jobs) {
                Ok(job) => next = Some(job),
                Err(stop) => stopping = stop,
            }
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
    stopping
}

#[cfg(test)]
mod tests {
    use crate::Database;
    use domain::error::StorageError;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A job queued while a batch runs joins that batch: both are answered after one commit.
    /// (A batch that took only the jobs queued when it began committed them one by one: each
    /// commit then wrote the tables' last pages and their indexes' again.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_queued_while_a_batch_runs_joins_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("db.sqlite").to_string_lossy(), 2).unwrap();
        db.migrate().unwrap();
        let before = db.changes().writes_started();
        let (running, is_running) = mpsc::channel::<()>();
        let (release, released) = mpsc::channel::<()>();
        let first = tokio::spawn({
            let db = db.clone();
            async move {
                db.write_async(move |_tx| {
                    running.send(()).unwrap();
                    released.recv().unwrap();
                    Ok::<_, StorageError>(())
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || is_running.recv().unwrap())
            .await
            .unwrap();
        let second = tokio::spawn({
            let db = db.clone();
            async move { db.write_async(|_tx| Ok::<_, StorageError>(())).await }
        });
        // The second job is queued once its task first runs, well within this.
        tokio::time::sleep(Duration::from_millis(200)).await;
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(
            db.changes().writes_started() - before,
            1,
            "the job queued while the batch ran was committed in a transaction of its own"
        );
    }
}
