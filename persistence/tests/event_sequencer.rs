//! PostgreSQL (when TEST_DATABASE_URL is set): the event sequencer numbers a line committed
//! after a run that started while its transaction was still open. A run starts from the mark
//! the previous run left (the oldest transaction still running as it read), so a transaction
//! that was open during a run is read again by the next one. On SQLite a line is numbered as
//! it is written; the test then checks that much.

mod support;

use diesel::connection::SimpleConnection;
use domain::ports::EventRepository;
use persistence::Database;
use uuid::Uuid;

#[test]
fn a_line_committed_after_a_run_that_saw_its_transaction_open_is_numbered_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::database_url(&dir);
    let db = Database::open(&url, 2).unwrap();
    db.migrate().unwrap();
    let org = support::organization(&db);
    let positions = |db: &Database| -> Vec<(Uuid, i64)> {
        db.events_after(org, 0, 100)
            .unwrap()
            .iter()
            .map(|e| (e.id, e.position))
            .collect()
    };
    if !url.starts_with("postgres") {
        let first = support::audit_line(org);
        db.write(|tx| tx.audit(&first)).unwrap();
        assert_eq!(positions(&db), vec![(first.id, 1)]);
        return;
    }

    // A transaction of its own writes a line and stays open.
    let held = support::audit_line(org);
    let mut open: diesel::PgConnection = diesel::Connection::establish(&url).unwrap();
    open.batch_execute(&format!(
        "BEGIN; INSERT INTO audit_events (id, organization_id, actor_subject, actor_role, \
         action, target_kind, target_id, created_at) VALUES ('{}', '{org}', 'ops', 'operator', \
         'organization_created', 'organization', '{org}', now())",
        held.id
    ))
    .unwrap();
    // A later transaction commits a line, and a run numbers it.
    let later = support::audit_line(org);
    db.write(|tx| tx.audit(&later)).unwrap();
    assert_eq!(db.sequence_events().unwrap(), 1);
    assert_eq!(positions(&db), vec![(later.id, 1)]);

    // The open one commits: the next run numbers its line after the other.
    open.batch_execute("COMMIT").unwrap();
    assert_eq!(
        db.sequence_events().unwrap(),
        1,
        "the held line is numbered"
    );
    assert_eq!(positions(&db), vec![(later.id, 1), (held.id, 2)]);
    assert_eq!(db.sequence_events().unwrap(), 0, "nothing left");
}
