//! What a write transaction holds back and what it keeps, on the database itself (SQLite, or
//! PostgreSQL when TEST_DATABASE_URL is set): an audit line is written with the ledger change
//! of its transaction, or before its COMMIT when there is none, and never when the
//! transaction is refused; an idempotency key keeps the first answer kept for it, and a
//! second transaction that tries to keep another is told so (and must not commit its work).

mod support;

use chrono::Utc;
use domain::audit::{AuditAction, AuditEvent, TargetKind};
use domain::auth::{Actor, Role};
use domain::catalog::builtin_catalog;
use domain::error::{StorageError, WriteError};
use domain::idempotency::{IdempotencyKey, StoredResponse};
use domain::ids::{AccountId, BenefitId, OrganizationId};
use domain::ledger::EntryKind;
use domain::metering::{Change, LedgerStore};
use domain::page::PageRequest;
use domain::ports::{BenefitRepository, CatalogRepository, DirectoryRepository, RecordsRepository};
use persistence::{Database, KeyState};
use uuid::Uuid;

fn database(dir: &tempfile::TempDir) -> Database {
    let url = support::database_url(dir);
    let db = Database::open(&url, 2).unwrap();
    db.migrate().unwrap();
    db.install_catalog(&builtin_catalog()).unwrap();
    db
}

fn operator() -> Actor {
    Actor {
        subject: "ops".into(),
        role: Role::Operator,
        partner: None,
    }
}

/// A benefit of 5 planning days, and its account's organization.
fn granted(db: &Database) -> (OrganizationId, AccountId, BenefitId) {
    let (account, benefit) = support::granted(db, 5, &operator());
    let org = db.account(account).unwrap().unwrap().organization_id;
    (org, account, benefit)
}

fn line(org: OrganizationId, account: AccountId, benefit: BenefitId) -> AuditEvent {
    AuditEvent {
        id: Uuid::new_v4(),
        organization_id: Some(org),
        account_id: Some(account),
        actor: operator(),
        action: AuditAction::BenefitConsumed,
        target_kind: TargetKind::Benefit,
        target_id: benefit.as_uuid(),
        detail: None,
        at: Utc::now(),
    }
}

fn consume(amount: i64, actor: &Actor) -> Change<'_> {
    Change {
        kind: EntryKind::Consumption,
        amount,
        actor,
        reference: None,
        note: None,
        at: Utc::now(),
    }
}

fn lines(db: &Database, org: OrganizationId) -> Vec<Uuid> {
    db.audit_events(org, &PageRequest::new(Some(200), None).unwrap())
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[derive(Debug)]
enum Failed {
    Refused,
    // Shown by `Debug` when an assertion fails.
    #[allow(dead_code)]
    Storage(StorageError),
}

impl From<StorageError> for Failed {
    fn from(e: StorageError) -> Self {
        Failed::Storage(e)
    }
}

#[test]
fn an_audit_line_commits_with_its_transaction_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir);
    let (org, account, benefit) = granted(&db);
    let actor = operator();

    // With a ledger change (on PostgreSQL: in the change's own statement).
    let with_change = line(org, account, benefit);
    db.write(|tx| -> Result<(), Failed> {
        tx.audit(&with_change)?;
        tx.record(benefit, consume(2, &actor))
            .map_err(|_| Failed::Refused)?;
        Ok(())
    })
    .unwrap();
    // Two lines and a change: one goes with the change, the other before the COMMIT.
    let (first, second) = (line(org, account, benefit), line(org, account, benefit));
    db.write(|tx| -> Result<(), Failed> {
        tx.audit(&first)?;
        tx.audit(&second)?;
        tx.record(benefit, consume(1, &actor))
            .map_err(|_| Failed::Refused)?;
        Ok(())
    })
    .unwrap();
    // Without any change.
    let alone = line(org, account, benefit);
    db.write(|tx| -> Result<(), Failed> { Ok(tx.audit(&alone)?) })
        .unwrap();
    // Refused by the ledger (3 left, 4 asked): neither the change nor the line.
    let refused = line(org, account, benefit);
    let outcome = db.write(|tx| -> Result<(), Failed> {
        tx.audit(&refused)?;
        match tx.record(benefit, consume(4, &actor)) {
            Err(WriteError::Refused(_)) => Err(Failed::Refused),
            Err(WriteError::Storage(e)) => Err(Failed::Storage(e)),
            Ok(_) => Ok(()),
        }
    });
    assert!(matches!(outcome, Err(Failed::Refused)), "{outcome:?}");

    let written = lines(&db, org);
    for (name, id) in [
        ("with a change", with_change.id),
        ("first of two", first.id),
        ("second of two", second.id),
        ("alone", alone.id),
    ] {
        assert_eq!(
            written.iter().filter(|w| **w == id).count(),
            1,
            "the line {name} is written once"
        );
    }
    assert!(
        !written.contains(&refused.id),
        "a refused transaction writes no line"
    );
    let figures = db
        .benefit(benefit)
        .unwrap()
        .unwrap()
        .benefit
        .figures
        .unwrap();
    assert_eq!(
        (figures.quantity, figures.used),
        (5, 3),
        "the two changes, not the refused one"
    );
}

#[test]
fn a_key_keeps_the_first_answer_kept_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir);
    let key = IdempotencyKey::parse("the-key").unwrap();
    let answer = |body: &str| StoredResponse {
        status: 201,
        headers: vec![],
        body: body.to_owned(),
    };
    let now = Utc::now();
    let first: Result<(KeyState, bool), StorageError> = db.write(|tx| {
        let state = tx.check_key("scope", &key, "print", now)?;
        let kept = tx.keep_answer("scope", &key, "print", &answer("first"), now)?;
        Ok((state, kept))
    });
    assert_eq!(first.unwrap(), (KeyState::Fresh, true));
    // A transaction that looked the key up before the first committed (PostgreSQL reads the
    // key with the snapshot of its lookup) goes on to keep its own answer: it is told no.
    let second: Result<bool, StorageError> =
        db.write(|tx| tx.keep_answer("scope", &key, "print", &answer("second"), now));
    assert!(!second.unwrap(), "the key was taken");
    let replay: Result<KeyState, StorageError> =
        db.write(|tx| tx.check_key("scope", &key, "print", now));
    assert_eq!(replay.unwrap(), KeyState::Replay(answer("first")));
}

/// The line that rides in the ledger change's statement (PostgreSQL) is stored whole: who
/// acted and for which partner, what, on what, the detail in both languages and when.
#[test]
fn a_line_written_with_a_change_keeps_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir);
    let (org, account, benefit) = granted(&db);
    let partner = domain::ids::PartnerId(Uuid::new_v4());
    let actor = Actor {
        subject: "partner-user".into(),
        role: Role::Partner,
        partner: Some(partner),
    };
    let event = AuditEvent {
        actor: actor.clone(),
        detail: Some(domain::Localized::new(
            "Consumption: +2 days",
            "Consommation : +2 jours",
        )),
        at: Utc::now(),
        ..line(org, account, benefit)
    };
    db.write(|tx| -> Result<(), Failed> {
        tx.audit(&event)?;
        tx.record(benefit, consume(2, &actor))
            .map_err(|_| Failed::Refused)?;
        Ok(())
    })
    .unwrap();
    let stored = db
        .audit_events(org, &PageRequest::new(Some(200), None).unwrap())
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.id == event.id)
        .expect("the line is written");
    assert_eq!(stored.organization_id, event.organization_id);
    assert_eq!(stored.actor, event.actor, "the partner it acted for, too");
    assert_eq!(stored.action, event.action);
    assert_eq!(stored.target_kind, event.target_kind);
    assert_eq!(stored.target_id, event.target_id);
    assert_eq!(stored.detail, event.detail);
    assert_eq!(
        stored.at.timestamp_micros(),
        event.at.timestamp_micros(),
        "to the microsecond both databases keep"
    );
}
