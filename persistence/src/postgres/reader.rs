//! PostgreSQL: "your benefits" read without leaving the request's thread. The pool's
//! connections are blocking (libpq through diesel), so every read through them hops from the
//! async worker to a blocking thread and back, and waits for its own round trip on a
//! connection of its own: on a 2-core machine half of a list read's CPU went to those thread
//! switches (perf). Here each actix worker thread keeps a few tokio-postgres connections of
//! its own ([`CONNECTIONS_PER_THREAD`]), driven by that thread's runtime, and the reads of its
//! requests are pipelined on them: the statement goes out from the request's own task, and
//! its answer wakes that task.
//!
//! Written by hand because no pool crate keeps a connection per runtime thread (deadpool and
//! bb8 hand connections across threads, which is the switch this removes). A connection that
//! fails is dropped and made again on the next read; the caller then reads through the pool,
//! so a failure here costs a request nothing but time.

use crate::postgres::portfolio::{PortfolioLine, SELECT};
use crate::postgres::tls::ListenerTls;
use domain::error::StorageError;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_postgres::{Client, Row, Statement};

/// Connections per worker thread, taken in turn. One connection pipelines all of a thread's
/// reads, but its PostgreSQL backend then runs them one after another; a few let the
/// database work on several at once. Measured on 2 cores, 2 workers, 2,000 accounts (reads
/// per second, kept answers off): 1 → 7.0–7.3k, 2 → 8.0–8.5k, 4 → 9.9–11.0k, 8 → 9.5–11.4k,
/// 16 → 9.3–9.6k.
const CONNECTIONS_PER_THREAD: u64 = 4;

/// How the readers' connections show in `pg_stat_activity`.
const APPLICATION_NAME: &str = "sa-benefits-reader";

/// Tells one database's readers from another's on the same thread (tests run many servers in
/// one process).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Opens and keeps [`CONNECTIONS_PER_THREAD`] connections on each thread that reads through it.
#[derive(Clone)]
pub(crate) struct Reader {
    id: u64,
    tls: Arc<ListenerTls>,
    /// Set when the server stops: see [`Reader::close`].
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("id", &self.id).finish()
    }
}

/// One of a thread's connections, once made.
struct Link {
    client: Client,
    portfolio: Statement,
}

/// One of a thread's connections, being made or made: the requests that arrive while it is
/// being made wait for the same one.
type Slot = Rc<tokio::sync::OnceCell<Link>>;

thread_local! {
    /// This thread's connections, by reader and turn.
    static LINKS: RefCell<HashMap<(u64, u64), Slot>> = RefCell::new(HashMap::new());
    /// Which of this thread's connections the next read takes.
    static TURN: Cell<u64> = const { Cell::new(0) };
}

impl Reader {
    pub(crate) fn new(tls: ListenerTls) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tls: Arc::new(tls),
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// Whether reads may still come here (not once the server stops).
    pub(crate) fn is_open(&self) -> bool {
        !*self.closing.borrow()
    }

    /// Closes every thread's connections cleanly: each thread forgets its connections, and
    /// each connection says goodbye to the server once the reads still using it are answered
    /// (dropped with the worker's runtime instead, it would be cut: "connection reset by peer"
    /// in the server's log). Must be called while the workers still run.
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// The lines of `account`'s portfolio (see [`crate::postgres::portfolio`]). Must run on a
    /// tokio runtime: the connection is driven by a task of the calling thread's runtime.
    pub(crate) async fn portfolio(
        &self,
        account: String,
        assigned: &'static str,
    ) -> Result<Vec<PortfolioLine>, StorageError> {
        let turn = TURN.with(|turn| {
            let next = turn.get();
            turn.set(next.wrapping_add(1));
            next % CONNECTIONS_PER_THREAD
        });
        let key = (self.id, turn);
        let slot = LINKS.with(|links| links.borrow_mut().entry(key).or_default().clone());
        let read = async {
            let link = slot.get_or_try_init(|| self.connect()).await?;
            let rows = link
                .client
                .query(&link.portfolio, &[&account, &assigned])
                .await?;
            rows.iter().map(line).collect::<Result<Vec<_>, _>>()
        };
        let result: Result<_, tokio_postgres::Error> = read.await;
        result.map_err(|e| {
            // Whatever failed, the next read makes a new connection: a statement error is as
            // unexpected as a lost connection here (the statement is fixed).
            LINKS.with(|links| {
                let mut links = links.borrow_mut();
                if links.get(&key).is_some_and(|s| Rc::ptr_eq(s, &slot)) {
                    links.remove(&key);
                }
            });
            StorageError(format!("PostgreSQL reader: {e}"))
        })
    }

    async fn connect(&self) -> Result<Link, tokio_postgres::Error> {
        let mut config: tokio_postgres::Config = self.tls.url.parse()?;
        config.application_name(APPLICATION_NAME);
        let (client, connection) = config.connect(self.tls.connector.clone()).await?;
        let (id, mut closing) = (self.id, self.closing.subscribe());
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                ended = &mut connection => {
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "a PostgreSQL reader's connection ended");
                    }
                    return;
                }
                // Closing (or the database dropped): this thread forgets its connections; the
                // last read using this one drops its client, and the connection then ends.
                _ = closing.wait_for(|closing| *closing) => {}
            }
            LINKS.with(|links| links.borrow_mut().retain(|(reader, _), _| *reader != id));
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a PostgreSQL reader's connection ended");
            }
        });
        let portfolio = client.prepare(SELECT).await?;
        Ok(Link { client, portfolio })
    }
}

fn line(row: &Row) -> Result<PortfolioLine, tokio_postgres::Error> {
    Ok(PortfolioLine {
        account_id: row.try_get(0)?,
        organization_id: row.try_get(1)?,
        account_name: row.try_get(2)?,
        agreement_number: row.try_get(3)?,
        sa_id: row.try_get(4)?,
        program_code: row.try_get(5)?,
        account_created_at: row.try_get(6)?,
        domain_count: row.try_get(7)?,
        benefit_id: row.try_get(8)?,
        type_code: row.try_get(9)?,
        unit: row.try_get(10)?,
        quantity: row.try_get(11)?,
        used: row.try_get(12)?,
        valid_from: row.try_get(13)?,
        expires_at: row.try_get(14)?,
        access_code: row.try_get(15)?,
        calculation_inputs: row.try_get(16)?,
        benefit_created_at: row.try_get(17)?,
        version: row.try_get(18)?,
        voucher_expires_at: row.try_get(19)?,
        voucher_days: row.try_get(20)?,
    })
}
