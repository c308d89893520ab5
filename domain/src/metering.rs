//! Metering: consuming and adjusting a benefit through its ledger. The rules are here; the
//! store ([`LedgerStore`]) makes each change atomic and exact under concurrency.

use crate::auth::{Actor, Role};
use crate::benefit::{Benefit, Status};
use crate::catalog::Unit;
use crate::error::WriteError;
use crate::error::{Refusal, RefusalKind, StorageError};
use crate::i18n::{Language, Localized};
use crate::ids::{BenefitId, PartnerId, TransactionId};
use crate::ledger::{EntryKind, Figures, LedgerError};
use crate::values::{Quantity, Reason};
use chrono::{DateTime, Utc};

/// One row of a benefit's ledger, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: TransactionId,
    pub benefit_id: BenefitId,
    /// Position in the benefit's ledger, from 1.
    pub seq: i64,
    pub kind: EntryKind,
    /// Signed change of the figure the kind affects (quantity or used).
    pub amount: i64,
    /// The figures right after this entry (`None` for an unmetered benefit).
    pub after: Option<Figures>,
    pub actor_subject: String,
    pub actor_role: Role,
    /// The partner that acted on behalf of the organization.
    pub partner: Option<PartnerId>,
    /// What caused it (an incident number, a voucher, a conversion…).
    pub reference: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl LedgerEntry {
    /// The change of the entitled quantity.
    pub fn entitled_change(&self) -> i64 {
        match self.kind.figure() {
            crate::ledger::Figure::Quantity => self.amount,
            crate::ledger::Figure::Used => 0,
        }
    }

    /// The change of what is used.
    pub fn used_change(&self) -> i64 {
        match self.kind.figure() {
            crate::ledger::Figure::Quantity => 0,
            crate::ledger::Figure::Used => self.amount,
        }
    }

    /// The change of what remains: summed over a ledger, what remains.
    pub fn remaining_change(&self) -> i64 {
        self.entitled_change() - self.used_change()
    }
}

/// A change to record in a benefit's ledger.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub kind: EntryKind,
    pub amount: i64,
    pub actor: &'a Actor,
    pub reference: Option<String>,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

impl Change<'_> {
    /// The ledger entry this change makes at position `seq` of `benefit`, leaving `after`:
    /// what every [`LedgerStore`] answers.
    pub fn entry(
        &self,
        id: TransactionId,
        benefit: BenefitId,
        seq: i64,
        after: Figures,
    ) -> LedgerEntry {
        LedgerEntry {
            id,
            benefit_id: benefit,
            seq,
            kind: self.kind,
            amount: self.amount,
            after: Some(after),
            actor_subject: self.actor.subject.clone(),
            actor_role: self.actor.role,
            partner: self.actor.partner,
            reference: self.reference.clone(),
            note: self.note.clone(),
            created_at: self.at,
        }
    }
}

/// Where ledger changes are recorded. An implementation applies the change to the benefit's
/// figures only if `0 <= used <= quantity` still holds at that instant (a conditional update
/// or a row lock), and appends the entry in the same transaction.
pub trait LedgerStore {
    fn record(
        &mut self,
        benefit: BenefitId,
        change: Change<'_>,
    ) -> Result<LedgerEntry, WriteError<LedgerError>>;
}

/// Filters of the ledger history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFilter {
    /// Only these kinds (all when empty).
    pub kinds: Vec<EntryKind>,
    /// From this time, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Until this time, exclusive.
    pub to: Option<DateTime<Utc>>,
}

pub(crate) fn refusal_of(e: WriteError<LedgerError>, unit: Unit) -> WriteError<MeteringError> {
    match e {
        WriteError::Refused(l) => WriteError::Refused(MeteringError::Ledger { error: l, unit }),
        WriteError::Storage(s) => WriteError::Storage(s),
    }
}

/// Why a consumption or an adjustment is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeteringError {
    #[error("the benefit is not metered")]
    Unmetered,
    #[error("{unit:?} are consumed through their own operation")]
    NotConsumedDirectly { unit: Unit },
    #[error("the benefit has expired")]
    Expired { expired_at: DateTime<Utc> },
    #[error("the benefit has not started")]
    NotStarted { valid_from: DateTime<Utc> },
    #[error("an adjustment of zero changes nothing")]
    ZeroAdjustment,
    #[error("the quantity would exceed the maximum")]
    AboveMaximum,
    #[error("{error}")]
    Ledger { error: LedgerError, unit: Unit },
}

impl Refusal for MeteringError {
    fn kind(&self) -> RefusalKind {
        RefusalKind::Rule
    }

    fn context(&self) -> Option<serde_json::Value> {
        self.remaining()
            .map(|remaining| serde_json::json!({ "remaining": remaining }))
    }

    fn code(&self) -> &'static str {
        match self {
            MeteringError::Unmetered => "unmetered_benefit",
            MeteringError::NotConsumedDirectly { .. } => "consumed_elsewhere",
            MeteringError::Expired { .. } => "benefit_expired",
            MeteringError::NotStarted { .. } => "benefit_not_started",
            MeteringError::ZeroAdjustment => "zero_adjustment",
            MeteringError::AboveMaximum => "above_maximum",
            MeteringError::Ledger { error, .. } => match error {
                LedgerError::NotEnoughRemaining { .. } => "not_enough_remaining",
                LedgerError::BelowUsed { .. } => "below_used",
                LedgerError::ReleaseAboveUsed { .. } => "release_above_used",
            },
        }
    }

    fn message(&self) -> Localized {
        match self {
            MeteringError::Unmetered => Localized::new(
                "This benefit is not metered: nothing can be consumed or adjusted.",
                "Cet avantage n'est pas mesuré : rien ne peut être consommé ni ajusté.",
            ),
            MeteringError::NotConsumedDirectly { unit } => {
                let (en, fr) = match unit {
                    Unit::Participants | Unit::Licenses => (
                        "adding users to the benefit",
                        "l'ajout d'utilisateurs à l'avantage",
                    ),
                    Unit::Downloads => {
                        ("recording downloads", "l'enregistrement de téléchargements")
                    }
                    Unit::TrainingDays => ("assigning vouchers", "l'attribution de bons"),
                    _ => ("its own operation", "son opération dédiée"),
                };
                Localized::new(
                    format!(
                        "{} are consumed by {en}, not directly.",
                        capitalize(unit.label(Language::En))
                    ),
                    format!(
                        "Les {} se consomment par {fr}, pas directement.",
                        unit.label(Language::Fr)
                    ),
                )
            }
            MeteringError::Expired { expired_at } => Localized::new(
                format!("This benefit expired on {}.", expired_at.format("%Y-%m-%d")),
                format!(
                    "Cet avantage a expiré le {}.",
                    expired_at.format("%Y-%m-%d")
                ),
            ),
            MeteringError::NotStarted { valid_from } => Localized::new(
                format!("This benefit starts on {}.", valid_from.format("%Y-%m-%d")),
                format!(
                    "Cet avantage commence le {}.",
                    valid_from.format("%Y-%m-%d")
                ),
            ),
            MeteringError::ZeroAdjustment => Localized::new(
                "An adjustment must add or remove at least one unit.",
                "Un ajustement doit ajouter ou retirer au moins une unité.",
            ),
            MeteringError::AboveMaximum => Localized::new(
                format!("The quantity may not exceed {}.", Quantity::MAX),
                format!("La quantité ne peut pas dépasser {}.", Quantity::MAX),
            ),
            MeteringError::Ledger { error, unit } => error.message(*unit),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

impl MeteringError {
    /// Facts a client can act on.
    pub fn remaining(&self) -> Option<i64> {
        match self {
            MeteringError::Ledger {
                error: LedgerError::NotEnoughRemaining { remaining },
                ..
            } => Some(*remaining),
            _ => None,
        }
    }
}

/// The benefit can be used at `now`: metered, started and not expired.
pub fn check_usable(benefit: &Benefit, now: DateTime<Utc>) -> Result<(), MeteringError> {
    if !benefit.unit.is_metered() {
        return Err(MeteringError::Unmetered);
    }
    if benefit.status(now) == Status::Expired {
        return Err(MeteringError::Expired {
            expired_at: benefit.expires_at,
        });
    }
    if now < benefit.valid_from {
        return Err(MeteringError::NotStarted {
            valid_from: benefit.valid_from,
        });
    }
    Ok(())
}

/// Consumes `quantity` of a benefit whose unit is consumed directly (an incident opened,
/// planning days scheduled). Refused beyond what remains.
pub fn consume(
    store: &mut impl LedgerStore,
    benefit: &Benefit,
    quantity: Quantity,
    actor: &Actor,
    reference: Option<String>,
    note: Option<Reason>,
    now: DateTime<Utc>,
) -> Result<LedgerEntry, WriteError<MeteringError>> {
    check_usable(benefit, now).map_err(WriteError::Refused)?;
    if !benefit.unit.consumed_directly() {
        return Err(WriteError::Refused(MeteringError::NotConsumedDirectly {
            unit: benefit.unit,
        }));
    }
    store
        .record(
            benefit.id,
            Change {
                kind: EntryKind::Consumption,
                amount: quantity.get(),
                actor,
                reference,
                note: note.map(|n| n.as_str().to_owned()),
                at: now,
            },
        )
        .map_err(|e| refusal_of(e, benefit.unit))
}

/// Records that a benefit expired with units left (PRODUCT.md §4): one `expiry` entry whose
/// change of remaining is minus what remained, so that afterwards nothing remains. `None`
/// while the benefit is active, unmetered, or has nothing left — so recording twice writes
/// one entry. What assigned vouchers hold stays used: their days are lost with the benefit.
pub fn record_expiry(
    store: &mut impl LedgerStore,
    benefit: &Benefit,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<LedgerEntry>, WriteError<MeteringError>> {
    if benefit.status(now) != Status::Expired {
        return Ok(None);
    }
    let Some(remaining) = benefit.remaining().filter(|r| *r > 0) else {
        return Ok(None);
    };
    store
        .record(
            benefit.id,
            Change {
                kind: EntryKind::Expiry,
                amount: -remaining,
                actor,
                reference: None,
                note: None,
                at: benefit.expires_at.min(now),
            },
        )
        .map(Some)
        .map_err(|e| refusal_of(e, benefit.unit))
}

/// Adds (positive) or removes (negative) entitled quantity, never below what is used.
pub fn adjust(
    store: &mut impl LedgerStore,
    benefit: &Benefit,
    delta: i64,
    reason: &Reason,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<LedgerEntry, WriteError<MeteringError>> {
    if !benefit.unit.is_metered() {
        return Err(WriteError::Refused(MeteringError::Unmetered));
    }
    if delta == 0 {
        return Err(WriteError::Refused(MeteringError::ZeroAdjustment));
    }
    if delta.unsigned_abs() > Quantity::MAX as u64
        || benefit
            .quantity()
            .is_some_and(|q| q + delta > Quantity::MAX)
    {
        return Err(WriteError::Refused(MeteringError::AboveMaximum));
    }
    store
        .record(
            benefit.id,
            Change {
                kind: EntryKind::Adjustment,
                amount: delta,
                actor,
                reference: None,
                note: Some(reason.as_str().to_owned()),
                at: now,
            },
        )
        .map_err(|e| refusal_of(e, benefit.unit))
}

/// An in-memory [`LedgerStore`] with the same contract as the real ones, for tests and
/// property checks of the rules built on it.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    pub figures: std::collections::HashMap<BenefitId, Figures>,
    pub entries: Vec<LedgerEntry>,
}

impl LedgerStore for MemoryLedger {
    fn record(
        &mut self,
        benefit: BenefitId,
        change: Change<'_>,
    ) -> Result<LedgerEntry, WriteError<LedgerError>> {
        let current = *self
            .figures
            .get(&benefit)
            .ok_or_else(|| StorageError(format!("no benefit {benefit}")))?;
        let after = current
            .apply(change.kind, change.amount)
            .map_err(WriteError::Refused)?;
        self.figures.insert(benefit, after);
        let seq = self
            .entries
            .iter()
            .filter(|e| e.benefit_id == benefit)
            .count() as i64
            + 1;
        let entry = change.entry(
            TransactionId(uuid::Uuid::from_u128(self.entries.len() as u128 + 1)),
            benefit,
            seq,
            after,
        );
        self.entries.push(entry.clone());
        Ok(entry)
    }
}

impl MemoryLedger {
    /// A benefit granted with `quantity`, as its first entry.
    pub fn grant(&mut self, benefit: BenefitId, quantity: i64) {
        self.figures.insert(benefit, Figures::default());
        let actor = Actor {
            subject: "grant".into(),
            role: Role::Operator,
            partner: None,
        };
        let change = Change {
            kind: EntryKind::Grant,
            amount: quantity,
            actor: &actor,
            reference: None,
            note: None,
            at: DateTime::UNIX_EPOCH,
        };
        let _ = self.record(benefit, change);
    }

    /// The ledger invariant for one benefit.
    pub fn agrees(&self, benefit: BenefitId) -> bool {
        self.figures.get(&benefit).is_some_and(|f| {
            f.agree_with(
                self.entries
                    .iter()
                    .filter(|e| e.benefit_id == benefit)
                    .map(|e| (e.kind, e.amount)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builtin_catalog;
    use crate::ids::AccountId;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn benefit(code: &str, quantity: Option<i64>) -> Benefit {
        let t = builtin_catalog().find(code).unwrap().clone();
        Benefit {
            id: BenefitId(Uuid::new_v4()),
            account_id: AccountId(Uuid::nil()),
            type_code: t.code,
            unit: t.unit,
            figures: quantity.map(|quantity| Figures { quantity, used: 0 }),
            valid_from: now() - Duration::days(10),
            expires_at: now() + Duration::days(10),
            access_code: None,
            calculation_inputs: vec![],
            created_at: now(),
            version: 1,
        }
    }

    fn actor() -> Actor {
        Actor {
            subject: "ana".into(),
            role: Role::CustomerAdmin,
            partner: None,
        }
    }

    fn q(n: i64) -> Quantity {
        Quantity::positive(n).unwrap()
    }

    fn refusal<T: std::fmt::Debug>(r: Result<T, WriteError<MeteringError>>) -> MeteringError {
        match r {
            Err(WriteError::Refused(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn consumption_is_refused_beyond_remaining_with_the_remaining_in_the_error() {
        let b = benefit("problem_resolution_phone", Some(3));
        let mut store = MemoryLedger::default();
        store.grant(b.id, 3);
        consume(&mut store, &b, q(2), &actor(), None, None, now()).unwrap();
        let e = refusal(consume(&mut store, &b, q(2), &actor(), None, None, now()));
        assert_eq!(e.code(), "not_enough_remaining");
        assert_eq!(e.remaining(), Some(1));
        assert_eq!(e.message().en, "Not enough remaining: 1 incident left.");
        assert!(store.agrees(b.id));
    }

    #[test]
    fn unmetered_expired_not_started_and_indirect_units_are_refused() {
        let mut store = MemoryLedger::default();
        let unmetered = benefit("dynamics_customersource", None);
        assert_eq!(
            refusal(consume(
                &mut store,
                &unmetered,
                q(1),
                &actor(),
                None,
                None,
                now()
            )),
            MeteringError::Unmetered
        );
        let phone = benefit("problem_resolution_phone", Some(3));
        store.grant(phone.id, 3);
        let later = phone.expires_at;
        assert!(matches!(
            refusal(consume(
                &mut store,
                &phone,
                q(1),
                &actor(),
                None,
                None,
                later
            )),
            MeteringError::Expired { .. }
        ));
        let earlier = phone.valid_from - Duration::seconds(1);
        assert!(matches!(
            refusal(consume(
                &mut store,
                &phone,
                q(1),
                &actor(),
                None,
                None,
                earlier
            )),
            MeteringError::NotStarted { .. }
        ));
        let e_learning = benefit("e_learning", Some(3));
        store.grant(e_learning.id, 3);
        let e = refusal(consume(
            &mut store,
            &e_learning,
            q(1),
            &actor(),
            None,
            None,
            now(),
        ));
        assert_eq!(e.code(), "consumed_elsewhere");
        assert_eq!(
            e.message().en,
            "Participants are consumed by adding users to the benefit, not directly."
        );
        assert_eq!(store.entries.len(), 2, "only the grants were recorded");
    }

    #[test]
    fn adjustments_never_go_below_used() {
        let b = benefit("planning_services", Some(10));
        let mut store = MemoryLedger::default();
        store.grant(b.id, 10);
        consume(&mut store, &b, q(6), &actor(), None, None, now()).unwrap();
        let reason = Reason::parse("Licence true-up").unwrap();
        let e = refusal(adjust(&mut store, &b, -5, &reason, &actor(), now()));
        assert_eq!(e.code(), "below_used");
        let entry = adjust(&mut store, &b, -4, &reason, &actor(), now()).unwrap();
        assert_eq!(
            entry.after,
            Some(Figures {
                quantity: 6,
                used: 6
            })
        );
        assert_eq!(
            refusal(adjust(&mut store, &b, 0, &reason, &actor(), now())),
            MeteringError::ZeroAdjustment
        );
        assert_eq!(
            refusal(adjust(
                &mut store,
                &b,
                Quantity::MAX,
                &reason,
                &actor(),
                now()
            )),
            MeteringError::AboveMaximum
        );
        assert!(store.agrees(b.id));
    }

    proptest! {
        /// Any sequence of consumptions and adjustments keeps the invariant, and every
        /// refusal leaves the ledger untouched.
        #[test]
        fn any_sequence_keeps_the_ledger_invariant(start in 0i64..30, ops in prop::collection::vec((any::<bool>(), -15i64..15), 0..100)) {
            let mut b = benefit("planning_services", Some(start));
            let mut store = MemoryLedger::default();
            store.grant(b.id, start);
            let reason = Reason::parse("property").unwrap();
            for (is_consumption, n) in ops {
                let before = store.entries.len();
                let result = if is_consumption {
                    Quantity::positive(n).ok().map(|n| consume(&mut store, &b, n, &actor(), None, None, now()))
                } else {
                    Some(adjust(&mut store, &b, n, &reason, &actor(), now()))
                };
                match result {
                    Some(Ok(entry)) => { b.figures = entry.after; prop_assert_eq!(store.entries.len(), before + 1); }
                    _ => prop_assert_eq!(store.entries.len(), before),
                }
                let f = store.figures[&b.id];
                prop_assert!(0 <= f.used && f.used <= f.quantity);
                prop_assert!(store.agrees(b.id));
            }
        }

        /// PRODUCT.md §4: for every metered benefit, through consumptions, releases,
        /// adjustments and its expiry, the ledger's `quantity` column (the change of
        /// remaining) sums to what remains, `entitled_change` to the quantity and
        /// `used_change` to what is used; after the expiry nothing remains, and recording it
        /// again writes nothing.
        #[test]
        fn the_three_columns_sum_to_the_figures_through_the_expiry(start in 0i64..30, ops in prop::collection::vec((0u8..3, -15i64..15), 0..60), expire in any::<bool>()) {
            let mut b = benefit("planning_services", Some(start));
            let mut store = MemoryLedger::default();
            store.grant(b.id, start);
            let reason = Reason::parse("property").unwrap();
            for (op, n) in ops {
                let outcome = match op {
                    0 => Quantity::positive(n).ok().map(|n| consume(&mut store, &b, n, &actor(), None, None, now())),
                    1 => Some(adjust(&mut store, &b, n, &reason, &actor(), now())),
                    _ => Some(store.record(b.id, Change { kind: EntryKind::Release, amount: -n.abs(), actor: &actor(), reference: None, note: None, at: now() }).map_err(|e| refusal_of(e, b.unit))),
                };
                if let Some(Ok(entry)) = outcome {
                    b.figures = entry.after;
                }
            }
            let later = b.expires_at + Duration::days(1);
            if expire {
                let left = b.remaining().unwrap();
                let entry = record_expiry(&mut store, &b, &actor(), later).unwrap();
                prop_assert_eq!(entry.is_some(), left > 0);
                if let Some(entry) = entry {
                    prop_assert_eq!(entry.kind, EntryKind::Expiry);
                    prop_assert_eq!(entry.remaining_change(), -left);
                    b.figures = entry.after;
                }
                prop_assert_eq!(b.remaining(), Some(0));
                prop_assert!(record_expiry(&mut store, &b, &actor(), later).unwrap().is_none());
            }
            prop_assert!(record_expiry(&mut store, &b, &actor(), now()).unwrap().is_none(), "an active benefit does not expire");
            let f = store.figures[&b.id];
            let rows: Vec<&LedgerEntry> = store.entries.iter().filter(|e| e.benefit_id == b.id).collect();
            prop_assert_eq!(rows.iter().map(|e| e.remaining_change()).sum::<i64>(), f.remaining());
            prop_assert_eq!(rows.iter().map(|e| e.entitled_change()).sum::<i64>(), f.quantity);
            prop_assert_eq!(rows.iter().map(|e| e.used_change()).sum::<i64>(), f.used);
        }
    }
}
