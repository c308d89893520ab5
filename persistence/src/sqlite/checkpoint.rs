//! WAL checkpoints of SQLite, off the writer's path. By default SQLite copies the WAL back
//! into the database file inside the commit that crosses 1,000 pages, on the thread that
//! commits: the group-commit writer, which every write waits for (fsyncs included). Here
//! the pool's connections never checkpoint on
//! their own (`wal_autocheckpoint = 0`); a thread of its own, with a connection of its own,
//! checkpoints a short while after writes were committed:
//! 1. every [`INTERVAL`], a passive checkpoint while writers go on: it copies what has been
//!    committed and blocks nobody;
//! 2. once the WAL is longer than [`RESTART_FRAMES`], rounds of copying and flushing both
//!    files to disk while writers go on, until a round is short (or [`MAX_ROUNDS`]); then
//!    one more passive checkpoint while it holds this process's writer turn (so no
//!    transaction is under way): it copies and flushes only what came during the last round,
//!    the WAL is then fully copied, and the next write starts it again from its beginning.
//!    Without this the WAL grows without end under steady writes: a transaction is always
//!    under way, so it is never fully copied at the moment a new one begins.
//!
//! Checkpointing every [`INTERVAL`] also copies each hot page once instead of once per
//! thousand frames. The last connection to close checkpoints as usual.

use crate::connect::Manager;
use crate::write_counter::Changes;
use crate::DbConnection;
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
use parking_lot::Mutex;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the thread looks for commits to checkpoint.
const INTERVAL: Duration = Duration::from_millis(100);

/// How long the WAL may grow (in frames of a page: 2 KiB in a new file, so about 16 MiB;
/// 32 MiB in a file made with 4 KiB pages, before new files got 2 KiB) before the writer
/// is held so that it can start again from its beginning. The hold costs two fsyncs, of what
/// came since the last [`flush`]: 2–3 ms on a fast disk (25–38 ms when they flushed everything
/// since the last complete pass), 4–7 ms on a slow one after the rounds (docs/PERFORMANCE.md).
const RESTART_FRAMES: i32 = 8192;

/// A round of copying and flushing this short leaves little for the held pass: what writers
/// committed during it.
const QUIET_ROUND: Duration = Duration::from_millis(2);

/// Most rounds before the hold. Under a steady load a round rarely gets under
/// [`QUIET_ROUND`]: each one copies and flushes what came during the one before, and its
/// flushes cost their fixed part. On a slow disk the hold fell from 12–19 ms to 4–7 ms
/// (median) with six (docs/PERFORMANCE.md, "SQLite's checkpoint hold"), and the WAL grows
/// meanwhile by what six rounds take.
const MAX_ROUNDS: u32 = 6;

/// Starts the checkpointer of the SQLite file `manager` opens (a connection set up like the
/// pool's); it ends once `changes` (held by the database and its clones) is dropped.
/// `writer` is the turn every writer of this process takes before its transaction.
pub(crate) fn start(manager: Manager, changes: &Arc<Changes>, writer: Arc<Mutex<()>>) {
    let changes = Arc::downgrade(changes);
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || run(&manager, &changes, &writer));
    if let Err(e) = spawned {
        // Without the thread the WAL still gets checkpointed when the last connection closes;
        // say so loudly, it would grow until then.
        tracing::error!(error = %e, "cannot start the SQLite checkpointer");
    }
}

/// What `PRAGMA wal_checkpoint` answers.
#[derive(QueryableByName)]
struct Progress {
    /// Frames in the WAL.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
}

fn checkpoint(conn: &mut SqliteConnection) -> Result<Progress, diesel::result::Error> {
    diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)
}

fn run(manager: &Manager, changes: &Weak<Changes>, writer: &Mutex<()>) {
    let mut conn: Option<SqliteConnection> = None;
    let mut checkpointed = 0;
    loop {
        std::thread::sleep(INTERVAL);
        let Some(count) = changes.upgrade().map(|c| c.writes_started()) else {
            return;
        };
        if count == checkpointed {
            continue;
        }
        if conn.is_none() {
            conn = open(manager);
        }
        let Some(c) = conn.as_mut() else { continue };
        // The first pass may see everything copied and still leave the WAL unable to start
        // again: a transaction under way appends its frames when it commits. Under the
        // writer's turn no transaction is under way; the writer waits for that pass, so it
        // runs only past RESTART_FRAMES.
        let done = checkpoint(c).and_then(|bulk| {
            if bulk.log < RESTART_FRAMES {
                return Ok(());
            }
            // What the held pass would have to copy and flush, copied and flushed before it
            // while writers go on (see `flush`), until a round finds little left.
            flush(manager);
            let mut rounds = 0;
            loop {
                rounds += 1;
                let round = std::time::Instant::now();
                checkpoint(c)?;
                flush(manager);
                if round.elapsed() < QUIET_ROUND || rounds == MAX_ROUNDS {
                    break;
                }
            }
            let _turn = writer.lock();
            let held = std::time::Instant::now();
            checkpoint(c)?;
            tracing::debug!(
                held_us = held.elapsed().as_micros(),
                rounds,
                "WAL fully checkpointed under the writer's turn"
            );
            Ok(())
        });
        match done {
            Ok(()) => checkpointed = count,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                conn = None;
            }
        }
    }
}

/// Writes to disk what the database file and its WAL hold in the page cache, while writers go
/// on. A passive pass that does not reach the end of the WAL (writers appended meanwhile:
/// always, under load) leaves the database file unsynced, and with `synchronous = NORMAL`
/// commits do not sync the WAL; so the first pass that does reach the end, the one that
/// holds the writer, had to flush everything copied and appended since the last complete
/// pass: 25–38 ms of the hold were that flush (a second pass right after it took 20 µs).
/// Flushed here first, the held pass syncs only what came since: the rounds before the hold
/// make that the last round's commits. (An fsync through our own descriptor is SQLite's too:
/// the kernel's page cache is one per file.)
fn flush(manager: &Manager) {
    let crate::connect::DatabaseUrl::Sqlite(path) = &manager.url else {
        return;
    };
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    for file in [path.as_os_str(), wal.as_os_str()] {
        let synced = std::fs::File::open(file).and_then(|f| f.sync_data());
        if let Err(e) = synced {
            // The held pass syncs both files anyway: this only makes the hold longer.
            tracing::debug!(error = %e, file = ?file, "cannot flush before the held checkpoint");
        }
    }
}

fn open(manager: &Manager) -> Option<SqliteConnection> {
    match manager.connect() {
        Ok(DbConnection::Sqlite(c)) => Some(c),
        Ok(DbConnection::Postgresql(_)) => {
            tracing::error!("the SQLite checkpointer was given a PostgreSQL database");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "the SQLite checkpointer cannot connect");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Database;
    use diesel::connection::SimpleConnection;
    use diesel::{QueryableByName, RunQueryDsl};

    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        wal_autocheckpoint: i32,
    }

    /// Commits reach the database file through the checkpointer: the pool's connections
    /// never checkpoint (and 50 small commits stay far below SQLite's own 1,000-page
    /// threshold), yet the file grows shortly after them.
    #[test]
    fn commits_are_checkpointed_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let db = Database::open(&path.to_string_lossy(), 2).unwrap();
        db.migrate().unwrap();
        let setting: Vec<Setting> = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .load(&mut *db.conn().unwrap())
            .unwrap();
        assert_eq!(setting[0].wal_autocheckpoint, 0);
        std::thread::sleep(2 * super::INTERVAL);
        let before = std::fs::metadata(&path).unwrap().len();
        for _ in 0..50 {
            db.write_transaction(|c| {
                c.batch_execute(
                    "CREATE TABLE IF NOT EXISTS filler(x BLOB); \
                     INSERT INTO filler VALUES (randomblob(16000));",
                )
                .map_err(crate::connect::storage)
            })
            .unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < before + 50 * 16000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the commits were not checkpointed into the database file"
            );
            std::thread::sleep(super::INTERVAL);
        }
    }

    /// Under writes that never pause, the WAL still starts again from its beginning: after
    /// 192 MB of commits it is at most half of that (a checkpoint that never catches up with
    /// the writer would leave it at 192 MB and growing). The WAL file keeps the largest size
    /// it reached: RESTART_FRAMES (about 16 MiB) plus what the writer appended while the
    /// checkpointer slept or waited for a core, which on a loaded 2-core machine was seen
    /// near 28 MB; the bound leaves room for twice that.
    #[test]
    fn the_wal_stays_small_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let db = Database::open(&path.to_string_lossy(), 2).unwrap();
        db.migrate().unwrap();
        let started = std::time::Instant::now();
        for _ in 0..6000 {
            db.write_transaction(|c| {
                c.batch_execute(
                    "CREATE TABLE IF NOT EXISTS filler(x BLOB); DELETE FROM filler; \
                     INSERT INTO filler VALUES (randomblob(32000));",
                )
                .map_err(crate::connect::storage)
            })
            .unwrap();
        }
        assert!(
            started.elapsed() > 3 * super::INTERVAL,
            "the writes ended before the checkpointer could run: the test proves nothing"
        );
        let wal = std::fs::metadata(dir.path().join("db.sqlite-wal"))
            .unwrap()
            .len();
        assert!(wal < 96_000_000, "the WAL grew to {wal} bytes");
    }
}
