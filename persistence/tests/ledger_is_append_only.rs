//! The database itself refuses to change or delete a ledger row, on SQLite always and on
//! PostgreSQL when TEST_DATABASE_URL is set.

mod support;

use chrono::{Duration, Utc};
use diesel::connection::SimpleConnection;
use domain::auth::{Actor, Role};
use domain::benefit::Grant;
use domain::catalog::builtin_catalog;
use domain::ids::BenefitId;
use domain::ports::{BenefitRepository, CatalogRepository};
use domain::values::Quantity;
use persistence::Database;
use uuid::Uuid;

fn database(dir: &tempfile::TempDir) -> (Database, String) {
    let url = support::database_url(dir);
    let db = Database::open(&url, 2).unwrap();
    db.migrate().unwrap();
    db.install_catalog(&builtin_catalog()).unwrap();
    (db, url)
}

#[test]
fn ledger_rows_cannot_be_updated_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = database(&dir);
    let now = Utc::now();
    let account = support::account(&db);
    let catalog = builtin_catalog();
    let grant = Grant::new(
        catalog.find("e_learning").unwrap(),
        Some(Quantity::new(5).unwrap()),
        now,
        now + Duration::days(9),
        vec![],
        now,
    )
    .unwrap();
    let actor = Actor {
        subject: "ops".into(),
        role: Role::Operator,
        partner: None,
    };
    db.grant(
        account,
        BenefitId(Uuid::new_v4()),
        &grant,
        None,
        &actor,
        now,
    )
    .unwrap();

    let mut conn = match diesel::Connection::establish(&url) {
        Ok(c) => persistence::DbConnection::Postgresql(c),
        Err(_) => persistence::DbConnection::Sqlite(diesel::Connection::establish(&url).unwrap()),
    };
    let update = conn.batch_execute("UPDATE benefit_transactions SET quantity_delta = 500");
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.batch_execute("DELETE FROM benefit_transactions");
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

/// The audit log is append-only too: no column of a line changes and no line goes. On
/// PostgreSQL the one exception is the sequencer's: a line's position is set once, from
/// nothing to a number. Each column is tried by name, so a column added to the table that
/// the rule does not cover fails here.
#[test]
fn audit_lines_cannot_be_changed_or_deleted_only_numbered_once() {
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = database(&dir);
    let org = support::organization(&db);
    let audit = support::audit_line(org);
    let line = audit.id;
    db.write(|tx| tx.audit(&audit)).unwrap();

    let postgres = url.starts_with("postgres");
    let mut conn = if postgres {
        persistence::DbConnection::Postgresql(diesel::Connection::establish(&url).unwrap())
    } else {
        persistence::DbConnection::Sqlite(diesel::Connection::establish(&url).unwrap())
    };
    let refused = |conn: &mut persistence::DbConnection, sql: &str| {
        let error = conn.batch_execute(sql).expect_err(sql).to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    };
    let mut columns = vec![
        "id",
        "organization_id",
        "actor_subject",
        "actor_role",
        "partner_id",
        "action",
        "target_kind",
        "target_id",
        "detail",
        "created_at",
    ];
    if postgres {
        // The transaction that wrote the line, which the sequencer starts from.
        columns.push("written_by");
        // The list above is the table's, less the position: a new column shows here.
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Column {
            #[diesel(sql_type = diesel::sql_types::Text)]
            column_name: String,
        }
        let persistence::DbConnection::Postgresql(pg) = &mut conn else {
            unreachable!()
        };
        let mut table: Vec<String> = diesel::sql_query(
            "SELECT column_name::text AS column_name FROM information_schema.columns \
             WHERE table_name = 'audit_events' AND column_name <> 'position'",
        )
        .load::<Column>(pg)
        .unwrap()
        .into_iter()
        .map(|c| c.column_name)
        .collect();
        table.sort();
        let mut listed: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        listed.sort();
        assert_eq!(
            table, listed,
            "a column of audit_events the test does not try"
        );
    }
    for column in &columns {
        // Even to the value it has: the rule is about what an UPDATE names.
        refused(
            &mut conn,
            &format!("UPDATE audit_events SET {column} = {column} WHERE id = '{line}'"),
        );
        refused(
            &mut conn,
            &format!(
                "UPDATE audit_events SET {column} = {column}, position = 7 WHERE id = '{line}'"
            ),
        );
    }
    if postgres {
        // Numbered once, by the sequencer: from nothing to a number, never again, never back.
        refused(
            &mut conn,
            &format!("UPDATE audit_events SET position = NULL WHERE id = '{line}'"),
        );
        conn.batch_execute(&format!(
            "UPDATE audit_events SET position = 7 WHERE id = '{line}'"
        ))
        .unwrap();
        refused(
            &mut conn,
            &format!("UPDATE audit_events SET position = 8 WHERE id = '{line}'"),
        );
        refused(
            &mut conn,
            &format!("UPDATE audit_events SET position = NULL WHERE id = '{line}'"),
        );
    } else {
        // SQLite numbers a line as it writes it: never afterwards.
        refused(
            &mut conn,
            &format!("UPDATE audit_events SET position = 8 WHERE id = '{line}'"),
        );
    }
    refused(&mut conn, "DELETE FROM audit_events");
}
