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
