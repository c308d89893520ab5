//! The conditional updates of the ledger, on the database itself (SQLite, or PostgreSQL when
//! TEST_DATABASE_URL is set): a long sequence of changes of every kind, each pushing against
//! `0 <= used <= quantity`, is accepted by the database exactly when `domain::ledger`
//! accepts it, and leaves exactly the figures the domain computes.

mod support;

use chrono::Utc;
use domain::auth::{Actor, Role};
use domain::catalog::builtin_catalog;
use domain::error::WriteError;
use domain::ledger::{EntryKind, Figures};
use domain::metering::{Change, LedgerStore};
use domain::ports::CatalogRepository;
use persistence::Database;

fn database(dir: &tempfile::TempDir) -> Database {
    let url = support::database_url(dir);
    let db = Database::open(&url, 2).unwrap();
    db.migrate().unwrap();
    db.install_catalog(&builtin_catalog()).unwrap();
    db
}

#[test]
fn the_database_accepts_a_change_exactly_when_the_domain_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir);
    let actor = Actor {
        subject: "ops".into(),
        role: Role::Operator,
        partner: None,
    };
    let (_, benefit) = support::granted(&db, 6, &actor);
    let mut figures = Figures {
        quantity: 6,
        used: 0,
    };
    // Every kind but the grant, with amounts from -7 to 7 in an order that keeps returning
    // to the bounds (a small linear congruential sequence: the same run every time).
    let kinds: Vec<EntryKind> = EntryKind::ALL
        .into_iter()
        .filter(|k| *k != EntryKind::Grant)
        .collect();
    let (mut seed, mut accepted, mut refused) = (7_u64, 0, 0);
    for _ in 0..300 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let kind = kinds[(seed >> 33) as usize % kinds.len()];
        let mut amount = ((seed >> 40) % 15) as i64 - 7;
        // Keep the quantity small, so that both bounds keep being reached.
        if kind.figure() == domain::ledger::Figure::Quantity && figures.quantity > 10 {
            amount = -amount.abs();
        }
        if amount == 0 {
            continue;
        }
        let expected = figures.apply(kind, amount);
        let change = Change {
            kind,
            amount,
            actor: &actor,
            reference: None,
            note: None,
            at: Utc::now(),
        };
        let got = db.write(|tx| match tx.record(benefit, change) {
            Ok(entry) => Ok(Ok(entry)),
            Err(WriteError::Refused(refusal)) => Ok(Err(refusal)),
            Err(WriteError::Storage(e)) => Err(e),
        });
        match (expected, got.expect("no storage failure")) {
            (Ok(after), Ok(entry)) => {
                assert_eq!(entry.after, Some(after), "{kind:?} {amount}");
                figures = after;
                accepted += 1;
            }
            (Err(domain), Err(database)) => {
                assert_eq!(domain, database, "{kind:?} {amount}");
                refused += 1;
            }
            (expected, got) => panic!("{kind:?} {amount} on {figures:?}: {expected:?} vs {got:?}"),
        }
    }
    // Both verdicts came up often: the sequence really pushed against the bounds.
    assert!(
        accepted > 50 && refused > 50,
        "{accepted} accepted, {refused} refused"
    );
}
