//! The group-commit writer (SQLite): jobs queued together share one transaction, yet each is
//! all-or-nothing — a refused or panicking job leaves no trace and the others commit — and a
//! job may not open a second write transaction. On PostgreSQL (`TEST_DATABASE_URL`) the same
//! calls run one transaction each, with the same outcome.

mod support;

use chrono::Utc;
use domain::entities::Organization;
use domain::error::StorageError;
use domain::ids::OrganizationId;
use domain::ports::DirectoryRepository;
use domain::values::Name;
use futures_util::future::join_all;
use persistence::Database;
use uuid::Uuid;

fn database(dir: &tempfile::TempDir) -> Database {
    let url = support::database_url(dir);
    let db = Database::open(&url, 4).unwrap();
    db.migrate().unwrap();
    db
}

fn organization(n: usize) -> Organization {
    Organization {
        id: OrganizationId(Uuid::new_v4()),
        name: Name::parse(&format!("Org {n}")).unwrap(),
        contact_emails: vec![],
        preferred_language: domain::Language::En,
        created_at: Utc::now(),
    }
}

#[derive(Debug)]
enum Outcome {
    Refused,
    Storage(StorageError),
}

impl From<StorageError> for Outcome {
    fn from(e: StorageError) -> Self {
        Outcome::Storage(e)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_of_a_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir);
    let orgs: Vec<Organization> = (0..60).map(organization).collect();
    let jobs = orgs.iter().cloned().enumerate().map(|(i, org)| {
        let db = db.clone();
        async move {
            db.write_async(move |tx| {
                tx.insert_organization(&org)?;
                match i % 3 {
                    // Written, then refused: the insert must not survive.
                    1 => Err(Outcome::Refused),
                    // Written, then a panic: the same.
                    2 if i % 2 == 0 => panic!("a job panics"),
                    _ => Ok(i),
                }
            })
            .await
        }
    });
    let results = join_all(jobs).await;
    for (i, (result, org)) in results.iter().zip(&orgs).enumerate() {
        let stored = db.organization(org.id).unwrap().is_some();
        match i % 3 {
            0 => assert!(matches!(result, Ok(n) if *n == i) && stored, "job {i}"),
            1 => assert!(
                matches!(result, Err(Outcome::Refused)) && !stored,
                "job {i}"
            ),
            _ if i % 2 == 0 => match result {
                Err(Outcome::Storage(e)) => assert!(!stored && !e.0.is_empty(), "job {i}"),
                other => panic!("job {i}: {other:?}"),
            },
            _ => assert!(result.is_ok() && stored, "job {i}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cannot_open_another_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir);
    let inner = db.clone();
    let org = organization(1);
    let id = org.id;
    let result = db
        .write_async(move |tx| {
            tx.insert_organization(&org)?;
            // On SQLite this would wait for the writer's own turn: it is refused instead.
            inner.insert_organization(&organization(2))?;
            Ok::<_, StorageError>(())
        })
        .await;
    if db.backend() == persistence::Backend::Sqlite {
        assert!(result.is_err());
        assert!(db.organization(id).unwrap().is_none());
    } else {
        assert!(result.is_ok());
    }
}
