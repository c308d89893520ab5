//! Conversion between two benefit types at a fixed ratio: today 3 Training Voucher days =
//! 1 Planning Services day. The rule is data ([`RULES`]); another pair and ratio can be
//! added without touching the arithmetic.

use crate::auth::Actor;
use crate::benefit::{Benefit, Status};
use crate::catalog::Unit;
use crate::error::WriteError;
use crate::error::{Refusal, RefusalKind};
use crate::i18n::{Language, Localized};
use crate::ledger::{EntryKind, LedgerError};
use crate::metering::{Change, LedgerEntry, LedgerStore};
use chrono::{DateTime, Utc};

/// `ratio` days of `source` make one day of `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversionRule {
    pub source: &'static str,
    pub target: &'static str,
    pub ratio: i64,
}

pub const TRAINING_TO_PLANNING: ConversionRule = ConversionRule {
    source: "training_vouchers",
    target: "planning_services",
    ratio: 3,
};

/// Whether a type takes part in a conversion (as its source or its target).
pub fn convertible(code: &str) -> bool {
    RULES.iter().any(|r| r.source == code || r.target == code)
}

/// Every conversion the service offers.
pub const RULES: &[ConversionRule] = &[TRAINING_TO_PLANNING];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Source → target (training days → planning days).
    Forward,
    /// Target → source, only to undo earlier forward conversions.
    Reverse,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Forward, Direction::Reverse];

    pub fn code(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
        }
    }

    pub fn parse(code: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.code() == code)
    }
}

/// What a conversion looks at: the account's benefits of both types (the active one if
/// any, else the latest) and how many target days were converted forward and not back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position<'a> {
    pub source: Option<&'a Benefit>,
    pub target: Option<&'a Benefit>,
    pub converted: i64,
}

/// A conversion as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionRecord {
    pub id: uuid::Uuid,
    pub account_id: crate::ids::AccountId,
    pub rule: ConversionRule,
    pub direction: Direction,
    pub source_benefit_id: crate::ids::BenefitId,
    pub target_benefit_id: crate::ids::BenefitId,
    pub source_days: i64,
    pub target_days: i64,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// Who converts, and the reference both ledger rows of a conversion carry.
#[derive(Debug, Clone, Copy)]
pub struct Attribution<'a> {
    pub actor: &'a Actor,
    pub reference: &'a str,
}

impl ConversionRule {
    /// The rule between two type codes, if the service offers it.
    pub fn between(source: &str, target: &str) -> Option<ConversionRule> {
        RULES
            .iter()
            .copied()
            .find(|r| r.source == source && r.target == target)
    }
}

impl<'a> Position<'a> {
    /// The account's benefits of the rule's two types: for each, the active one if any,
    /// else the one that expired last.
    pub fn of(
        rule: &ConversionRule,
        benefits: &'a [Benefit],
        converted: i64,
        now: DateTime<Utc>,
    ) -> Position<'a> {
        let pick = |code: &str| {
            let of_type = benefits
                .iter()
                .filter(move |b| b.type_code.as_str() == code);
            of_type
                .clone()
                .find(|b| b.status(now) == Status::Active)
                .or_else(|| of_type.max_by_key(|b| b.expires_at))
        };
        Position {
            source: pick(rule.source),
            target: pick(rule.target),
            converted,
        }
    }
}

/// A dry run: the most target days that can be moved, and the balances after `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub direction: Direction,
    /// The most target (planning) days this direction allows now.
    pub max_target_days: i64,
    /// The target days quoted (`n`).
    pub target_days: i64,
    /// The source days they correspond to (`ratio × n`).
    pub source_days: i64,
    pub source_remaining_after: i64,
    pub target_remaining_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    #[error("the account holds no {code} benefit")]
    Missing { code: &'static str },
    #[error("the {code} benefit is not active")]
    NotActive { code: &'static str },
    #[error("{asked} is above the maximum {max}")]
    AboveMaximum {
        direction: Direction,
        asked: i64,
        max: i64,
    },
    #[error("ledger refused: {0:?}")]
    Ledger(LedgerError),
}

impl Refusal for ConversionError {
    fn kind(&self) -> RefusalKind {
        RefusalKind::Rule
    }

    fn context(&self) -> Option<serde_json::Value> {
        self.max()
            .map(|max| serde_json::json!({ "max_planning_days": max }))
    }

    fn code(&self) -> &'static str {
        match self {
            ConversionError::Missing { .. } => "conversion_unavailable",
            ConversionError::NotActive { .. } => "benefit_expired",
            ConversionError::AboveMaximum { .. } => "above_conversion_maximum",
            ConversionError::Ledger(_) => "not_enough_remaining",
        }
    }

    fn message(&self) -> Localized {
        match self {
            ConversionError::Missing { code } => Localized::new(
                format!("Converting needs an active {code} benefit on this account, and it holds none."),
                format!("La conversion exige un avantage {code} actif sur ce compte, et il n'en a pas."),
            ),
            ConversionError::NotActive { code } => Localized::new(
                format!("Converting needs an active {code} benefit; this account's has expired or not started."),
                format!("La conversion exige un avantage {code} actif ; celui de ce compte a expiré ou n'a pas commencé."),
            ),
            ConversionError::AboveMaximum { direction: Direction::Forward, asked, max } => Localized::new(
                format!("{} need {}; at most {} can be created now.", Unit::PlanningDays.count(*asked, Language::En), Unit::TrainingDays.count(asked * TRAINING_TO_PLANNING.ratio, Language::En), Unit::PlanningDays.count(*max, Language::En)),
                format!("{} exigent {} ; au plus {} maintenant.", Unit::PlanningDays.count(*asked, Language::Fr), Unit::TrainingDays.count(asked * TRAINING_TO_PLANNING.ratio, Language::Fr), Unit::PlanningDays.count(*max, Language::Fr)),
            ),
            ConversionError::AboveMaximum { direction: Direction::Reverse, asked, max } => Localized::new(
                format!("Only planning days converted earlier can be converted back, and only while they remain: at most {max} now, not {asked}."),
                format!("Seuls les jours de planification issus d'une conversion peuvent être reconvertis, tant qu'ils restent : {max} au plus maintenant, pas {asked}."),
            ),
            ConversionError::Ledger(_) => Localized::new(
                "The balances changed during the conversion; quote again.",
                "Les soldes ont changé pendant la conversion ; refaites un devis.",
            ),
        }
    }
}

impl ConversionError {
    /// The maximum to show the client, when that is the reason.
    pub fn max(&self) -> Option<i64> {
        match self {
            ConversionError::AboveMaximum { max, .. } => Some(*max),
            _ => None,
        }
    }
}

fn active<'a>(
    benefit: Option<&'a Benefit>,
    code: &'static str,
    now: DateTime<Utc>,
) -> Result<&'a Benefit, ConversionError> {
    let b = benefit.ok_or(ConversionError::Missing { code })?;
    if b.status(now) != Status::Active || now < b.valid_from || b.figures.is_none() {
        return Err(ConversionError::NotActive { code });
    }
    Ok(b)
}

impl ConversionRule {
    /// The most target days `direction` allows now.
    pub fn maximum(
        &self,
        direction: Direction,
        position: &Position<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, ConversionError> {
        let source = active(position.source, self.source, now)?;
        let target = active(position.target, self.target, now)?;
        let (source_left, target_left) = (
            source.remaining().unwrap_or(0),
            target.remaining().unwrap_or(0),
        );
        Ok(match direction {
            Direction::Forward => source_left / self.ratio,
            Direction::Reverse => position.converted.min(target_left).max(0),
        })
    }

    /// A dry run for `n` target days (`None`: the maximum).
    pub fn quote(
        &self,
        direction: Direction,
        position: &Position<'_>,
        n: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Quote, ConversionError> {
        let max = self.maximum(direction, position, now)?;
        let n = n.unwrap_or(max);
        if n > max {
            return Err(ConversionError::AboveMaximum {
                direction,
                asked: n,
                max,
            });
        }
        let source_left = position.source.and_then(Benefit::remaining).unwrap_or(0);
        let target_left = position.target.and_then(Benefit::remaining).unwrap_or(0);
        let sign = match direction {
            Direction::Forward => 1,
            Direction::Reverse => -1,
        };
        Ok(Quote {
            direction,
            max_target_days: max,
            target_days: n,
            source_days: self.ratio * n,
            source_remaining_after: source_left - sign * self.ratio * n,
            target_remaining_after: target_left + sign * n,
        })
    }

    /// Converts `n >= 1` target days: both ledger rows, attributed to `by` and linked by its
    /// reference, through the store (exact under concurrency: each is a conditional update).
    pub fn convert(
        &self,
        store: &mut impl LedgerStore,
        direction: Direction,
        position: &Position<'_>,
        n: i64,
        by: Attribution<'_>,
        now: DateTime<Utc>,
    ) -> Result<(LedgerEntry, LedgerEntry), WriteError<ConversionError>> {
        let Attribution { actor, reference } = by;
        self.quote(direction, position, Some(n), now)
            .map_err(WriteError::Refused)?;
        let (source, target) = match (position.source, position.target) {
            (Some(s), Some(t)) => (s, t),
            _ => unreachable_missing(self)?,
        };
        let (source_kind, target_kind, sign) = match direction {
            Direction::Forward => (EntryKind::ConversionOut, EntryKind::ConversionIn, 1),
            Direction::Reverse => (EntryKind::ConversionIn, EntryKind::ConversionOut, -1),
        };
        let change = |kind, amount| Change {
            kind,
            amount,
            actor,
            reference: Some(reference.to_owned()),
            note: None,
            at: now,
        };
        let ledger = |e: WriteError<LedgerError>| match e {
            WriteError::Refused(l) => WriteError::Refused(ConversionError::Ledger(l)),
            WriteError::Storage(s) => WriteError::Storage(s),
        };
        let source_entry = store
            .record(source.id, change(source_kind, -sign * self.ratio * n))
            .map_err(ledger)?;
        let target_entry = store
            .record(target.id, change(target_kind, sign * n))
            .map_err(ledger)?;
        Ok((source_entry, target_entry))
    }
}

fn unreachable_missing<T>(rule: &ConversionRule) -> Result<T, WriteError<ConversionError>> {
    Err(WriteError::Refused(ConversionError::Missing {
        code: rule.source,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::catalog::{builtin_catalog, Unit};
    use crate::ids::{AccountId, BenefitId};
    use crate::ledger::Figures;
    use crate::metering::MemoryLedger;
    use crate::values::{EmailAddress, Name};
    use crate::voucher::{self, NewVoucher, VoucherDays};
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn benefit(code: &str, n: u128) -> Benefit {
        let t = builtin_catalog().find(code).unwrap().clone();
        Benefit {
            id: BenefitId(Uuid::from_u128(n)),
            account_id: AccountId(Uuid::nil()),
            type_code: t.code,
            unit: t.unit,
            figures: Some(Figures::default()),
            valid_from: now() - Duration::days(10),
            expires_at: now() + Duration::days(300),
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

    /// The benefits with their figures as the ledger has them.
    fn refreshed(ledger: &MemoryLedger, b: &Benefit) -> Benefit {
        Benefit {
            figures: ledger.figures.get(&b.id).copied(),
            ..b.clone()
        }
    }

    #[test]
    fn the_ratio_is_data() {
        assert_eq!(RULES, &[TRAINING_TO_PLANNING]);
        assert_eq!(TRAINING_TO_PLANNING.ratio, 3);
        let catalog = builtin_catalog();
        assert_eq!(
            catalog.find(TRAINING_TO_PLANNING.source).unwrap().unit,
            Unit::TrainingDays
        );
        assert_eq!(
            catalog.find(TRAINING_TO_PLANNING.target).unwrap().unit,
            Unit::PlanningDays
        );
    }

    #[test]
    fn quotes_forward_and_refuse_above_the_maximum() {
        let (t, p) = (
            benefit("training_vouchers", 1),
            benefit("planning_services", 2),
        );
        let mut ledger = MemoryLedger::default();
        ledger.grant(t.id, 10);
        ledger.grant(p.id, 2);
        let (t, p) = (refreshed(&ledger, &t), refreshed(&ledger, &p));
        let position = Position {
            source: Some(&t),
            target: Some(&p),
            converted: 0,
        };
        let rule = TRAINING_TO_PLANNING;
        let q = rule
            .quote(Direction::Forward, &position, Some(2), now())
            .unwrap();
        assert_eq!(
            (
                q.max_target_days,
                q.source_days,
                q.source_remaining_after,
                q.target_remaining_after
            ),
            (3, 6, 4, 4)
        );
        assert!(rule
            .quote(Direction::Forward, &position, Some(4), now())
            .is_err());
        // Nothing converted yet: nothing to convert back.
        assert_eq!(rule.maximum(Direction::Reverse, &position, now()), Ok(0));
        let missing = Position {
            source: Some(&t),
            target: None,
            converted: 0,
        };
        assert_eq!(
            rule.quote(Direction::Forward, &missing, Some(1), now()),
            Err(ConversionError::Missing {
                code: "planning_services"
            })
        );
        let late = now() + Duration::days(400);
        assert_eq!(
            rule.quote(Direction::Forward, &position, Some(1), late),
            Err(ConversionError::NotActive {
                code: "training_vouchers"
            })
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Forward(i64),
        Reverse(i64),
        Voucher(i64),
        Schedule(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1i64..6).prop_map(Op::Forward),
            (1i64..6).prop_map(Op::Reverse),
            (1i64..6).prop_map(Op::Voucher),
            (1i64..4).prop_map(Op::Schedule),
        ]
    }

    proptest! {
        /// Whatever the sequence: balances never go negative, net reversed never exceeds
        /// net converted, conversions conserve training + 3 × planning, and the ledger
        /// agrees with the figures.
        #[test]
        fn conversions_conserve_and_never_overdraw(
            training in 0i64..40,
            planning in 0i64..10,
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let rule = TRAINING_TO_PLANNING;
            let (t0, p0) = (benefit("training_vouchers", 1), benefit("planning_services", 2));
            let mut ledger = MemoryLedger::default();
            ledger.grant(t0.id, training);
            ledger.grant(p0.id, planning);
            let mut converted = 0i64;
            for (i, op) in ops.into_iter().enumerate() {
                let (t, p) = (refreshed(&ledger, &t0), refreshed(&ledger, &p0));
                let position = Position { source: Some(&t), target: Some(&p), converted };
                let weight = |l: &MemoryLedger| {
                    l.figures[&t0.id].quantity + rule.ratio * l.figures[&p0.id].quantity
                };
                let before = weight(&ledger);
                match op {
                    Op::Forward(n) | Op::Reverse(n) => {
                        let direction = if matches!(op, Op::Forward(_)) { Direction::Forward } else { Direction::Reverse };
                        let max = rule.maximum(direction, &position, now()).unwrap();
                        let done = rule.convert(&mut ledger, direction, &position, n, Attribution { actor: &actor(), reference: "c" }, now());
                        prop_assert_eq!(done.is_ok(), n <= max);
                        if done.is_ok() {
                            converted += if direction == Direction::Forward { n } else { -n };
                        }
                        prop_assert_eq!(weight(&ledger), before);
                    }
                    Op::Voucher(days) => {
                        let new = NewVoucher {
                            holder_email: EmailAddress::parse("a@contoso.com").unwrap(),
                            holder_name: Name::parse("A").unwrap(),
                            course: Name::parse("AZ-900").unwrap(),
                            days: VoucherDays::new(days).unwrap(),
                        };
                        let left = t.remaining().unwrap();
                        let done = voucher::assign(&mut ledger, &t, Uuid::from_u128(i as u128), new, &actor(), now());
                        prop_assert_eq!(done.is_ok(), days <= left);
                    }
                    Op::Schedule(days) => {
                        let left = p.remaining().unwrap();
                        let done = crate::metering::consume(
                            &mut ledger, &p, crate::values::Quantity::positive(days).unwrap(),
                            &actor(), None, None, now(),
                        );
                        prop_assert_eq!(done.is_ok(), days <= left);
                    }
                }
                prop_assert!(converted >= 0);
                for id in [t0.id, p0.id] {
                    let f = ledger.figures[&id];
                    prop_assert!(f.used >= 0 && f.used <= f.quantity, "{:?}", f);
                    prop_assert!(ledger.agrees(id));
                }
            }
        }
    }
}
