//! Training vouchers: days of a `training_vouchers` benefit put on one named person for a
//! course. `assigned` → `redeemed` | `revoked` | `expired` (180 days after assignment, on
//! time alone). Every move of days goes through the ledger.

use crate::auth::Actor;
use crate::benefit::{Benefit, Status};
use crate::catalog::Unit;
use crate::error::WriteError;
use crate::error::{Refusal, RefusalKind};
use crate::i18n::Localized;
use crate::ids::BenefitId;
use crate::ledger::EntryKind;
use crate::metering::{check_usable, refusal_of, Change, LedgerEntry, LedgerStore, MeteringError};
use crate::values::{EmailAddress, InvalidValue, Name};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// A voucher not redeemed this long after its assignment expires.
pub const LIFETIME: Duration = Duration::days(180);

/// An assigned voucher's days and end, as the alerts need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoucherExpiry {
    pub benefit_id: BenefitId,
    pub expires_at: DateTime<Utc>,
    pub days: i64,
}

/// Training days of `benefit`'s assigned vouchers that expire after `now` and within the
/// benefits' warning period (the "N training days expire within 30 days" alert).
pub fn days_expiring_soon(
    expiries: &[VoucherExpiry],
    benefit: BenefitId,
    now: DateTime<Utc>,
) -> i64 {
    let until = now + crate::benefit::EXPIRY_WARNING;
    expiries
        .iter()
        .filter(|v| v.benefit_id == benefit && v.expires_at > now && v.expires_at <= until)
        .map(|v| v.days)
        .sum()
}

/// Days on one voucher: 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoucherDays(i64);

impl VoucherDays {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = 5;

    pub fn new(days: i64) -> Result<Self, InvalidValue> {
        if (Self::MIN..=Self::MAX).contains(&days) {
            Ok(Self(days))
        } else {
            Err(InvalidValue {
                message: Localized::new(
                    "must be from 1 to 5 days",
                    "doit être compris entre 1 et 5 jours",
                ),
            })
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoucherStatus {
    Assigned,
    Redeemed,
    Revoked,
    Expired,
}

impl VoucherStatus {
    pub const ALL: [VoucherStatus; 4] = [
        VoucherStatus::Assigned,
        VoucherStatus::Redeemed,
        VoucherStatus::Revoked,
        VoucherStatus::Expired,
    ];

    pub fn code(self) -> &'static str {
        match self {
            VoucherStatus::Assigned => "assigned",
            VoucherStatus::Redeemed => "redeemed",
            VoucherStatus::Revoked => "revoked",
            VoucherStatus::Expired => "expired",
        }
    }

    pub fn parse(code: &str) -> Option<VoucherStatus> {
        VoucherStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// What a person reads for the status, in English and French.
    pub fn label(self) -> crate::Localized {
        let (en, fr) = match self {
            VoucherStatus::Assigned => ("Assigned", "Attribué"),
            VoucherStatus::Redeemed => ("Redeemed", "Utilisé"),
            VoucherStatus::Revoked => ("Revoked", "Révoqué"),
            VoucherStatus::Expired => ("Expired", "Expiré"),
        };
        crate::Localized::new(en, fr)
    }

    /// The moves people make from here (expiry is time's).
    pub fn allowed_moves(self) -> Vec<VoucherStatus> {
        match self {
            VoucherStatus::Assigned => vec![VoucherStatus::Redeemed, VoucherStatus::Revoked],
            _ => vec![],
        }
    }
}

/// A voucher as stored; [`Voucher::status_at`] adds the expiry time makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub id: Uuid,
    pub benefit_id: BenefitId,
    pub holder_email: EmailAddress,
    pub holder_name: Name,
    pub course: Name,
    pub days: i64,
    pub status: VoucherStatus,
    pub assigned_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For an expired voucher: whether its days came back to the pool.
    pub days_returned: Option<bool>,
    pub version: i64,
}

/// What to assign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVoucher {
    pub holder_email: EmailAddress,
    pub holder_name: Name,
    pub course: Name,
    pub days: VoucherDays,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    #[error("vouchers are assigned from training_vouchers benefits only")]
    NotTrainingVouchers,
    #[error("no move from {from:?} to {to:?}")]
    InvalidTransition {
        from: VoucherStatus,
        to: VoucherStatus,
        allowed: Vec<VoucherStatus>,
    },
    #[error(transparent)]
    Metering(MeteringError),
}

impl Refusal for VoucherError {
    fn kind(&self) -> RefusalKind {
        match self {
            VoucherError::InvalidTransition { .. } => RefusalKind::Conflict,
            VoucherError::NotTrainingVouchers => RefusalKind::Rule,
            VoucherError::Metering(m) => m.kind(),
        }
    }

    fn context(&self) -> Option<serde_json::Value> {
        match self {
            VoucherError::InvalidTransition { from, allowed, .. } => {
                let allowed: Vec<&str> = allowed.iter().map(|s| s.code()).collect();
                Some(serde_json::json!({"current_status": from.code(), "allowed": allowed}))
            }
            VoucherError::NotTrainingVouchers => None,
            VoucherError::Metering(m) => m.context(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            VoucherError::NotTrainingVouchers => "not_a_voucher_benefit",
            VoucherError::InvalidTransition { .. } => "invalid_transition",
            VoucherError::Metering(m) => m.code(),
        }
    }

    fn message(&self) -> Localized {
        match self {
            VoucherError::NotTrainingVouchers => Localized::new(
                "Vouchers are assigned from a Training Vouchers benefit only.",
                "Les bons s'attribuent uniquement sur un avantage Bons de formation.",
            ),
            VoucherError::InvalidTransition { from, to, allowed } => {
                // Labels, not codes: the message is read by people.
                let list = |l: crate::Language| {
                    allowed
                        .iter()
                        .map(|s| s.label().get(l).to_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let (en, fr) = if allowed.is_empty() {
                    (
                        "it is final".to_owned(),
                        "cet état est définitif".to_owned(),
                    )
                } else {
                    (
                        format!("allowed: {}", list(crate::Language::En)),
                        format!("possible : {}", list(crate::Language::Fr)),
                    )
                };
                Localized::new(
                    format!(
                        "A voucher that is {} cannot become {}; {en}.",
                        from.label().en,
                        to.label().en
                    ),
                    format!(
                        "Un bon à l'état « {} » ne peut pas passer à « {} » ; {fr}.",
                        from.label().fr,
                        to.label().fr
                    ),
                )
            }
            VoucherError::Metering(m) => m.message(),
        }
    }
}

impl VoucherError {
    pub fn remaining(&self) -> Option<i64> {
        match self {
            VoucherError::Metering(m) => m.remaining(),
            _ => None,
        }
    }
}

fn metering(e: WriteError<MeteringError>) -> WriteError<VoucherError> {
    match e {
        WriteError::Refused(m) => WriteError::Refused(VoucherError::Metering(m)),
        WriteError::Storage(s) => WriteError::Storage(s),
    }
}

impl Voucher {
    /// The status at `now`: an assigned voucher past its date reads as expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> VoucherStatus {
        match self.status {
            VoucherStatus::Assigned if now >= self.expires_at => VoucherStatus::Expired,
            other => other,
        }
    }

    /// Whether time expired it and nobody recorded it yet.
    pub fn expiry_due(&self, now: DateTime<Utc>) -> bool {
        self.status == VoucherStatus::Assigned && now >= self.expires_at
    }

    fn moved(&self, to: VoucherStatus, now: DateTime<Utc>) -> Result<Voucher, VoucherError> {
        let from = self.status_at(now);
        if !from.allowed_moves().contains(&to) {
            return Err(VoucherError::InvalidTransition {
                from,
                to,
                allowed: from.allowed_moves(),
            });
        }
        Ok(Voucher {
            status: to,
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        })
    }

    fn change<'a>(&self, kind: EntryKind, actor: &'a Actor, at: DateTime<Utc>) -> Change<'a> {
        let amount = match kind {
            EntryKind::VoucherAssigned => self.days,
            _ => -self.days,
        };
        Change {
            kind,
            amount,
            actor,
            reference: Some(format!("voucher:{}", self.id)),
            note: None,
            at,
        }
    }
}

/// Assigns a voucher: the benefit must be an active Training Vouchers benefit with at least
/// `days` remaining; the days are used through the ledger.
/// Whether benefits of this unit carry training vouchers (the rule `assign` applies).
pub fn has_vouchers(unit: Unit) -> bool {
    unit == Unit::TrainingDays
}

pub fn assign(
    store: &mut impl LedgerStore,
    benefit: &Benefit,
    id: Uuid,
    new: NewVoucher,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Voucher, LedgerEntry), WriteError<VoucherError>> {
    if !has_vouchers(benefit.unit) {
        return Err(WriteError::Refused(VoucherError::NotTrainingVouchers));
    }
    check_usable(benefit, now).map_err(|e| WriteError::Refused(VoucherError::Metering(e)))?;
    let voucher = Voucher {
        id,
        benefit_id: benefit.id,
        holder_email: new.holder_email,
        holder_name: new.holder_name,
        course: new.course,
        days: new.days.get(),
        status: VoucherStatus::Assigned,
        assigned_at: now,
        expires_at: now + LIFETIME,
        updated_at: now,
        days_returned: None,
        version: 1,
    };
    let entry = store
        .record(
            benefit.id,
            voucher.change(EntryKind::VoucherAssigned, actor, now),
        )
        .map_err(|e| metering(refusal_of(e, benefit.unit)))?;
    Ok((voucher, entry))
}

/// Revokes an assigned voucher: its days come back.
pub fn revoke(
    store: &mut impl LedgerStore,
    benefit: &Benefit,
    voucher: &Voucher,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Voucher, LedgerEntry), WriteError<VoucherError>> {
    let revoked = voucher
        .moved(VoucherStatus::Revoked, now)
        .map_err(WriteError::Refused)?;
    let entry = store
        .record(
            benefit.id,
            voucher.change(EntryKind::VoucherRevoked, actor, now),
        )
        .map_err(|e| metering(refusal_of(e, benefit.unit)))?;
    Ok((revoked, entry))
}

/// Records that the training took place: the days stay used.
pub fn redeem(voucher: &Voucher, now: DateTime<Utc>) -> Result<Voucher, VoucherError> {
    voucher.moved(VoucherStatus::Redeemed, now)
}

/// Records the expiry time made (the sweeper): the days come back while the benefit is
/// active, and are lost once it has expired. `None` when nothing is due.
pub fn record_expiry(
    store: &mut impl LedgerStore,
    benefit: &Benefit,
    voucher: &Voucher,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<(Voucher, Option<LedgerEntry>)>, WriteError<VoucherError>> {
    if !voucher.expiry_due(now) {
        return Ok(None);
    }
    let returned = benefit.status(now) == Status::Active;
    let expired = Voucher {
        status: VoucherStatus::Expired,
        updated_at: now,
        days_returned: Some(returned),
        version: voucher.version + 1,
        ..voucher.clone()
    };
    let entry = if returned {
        Some(
            store
                .record(
                    benefit.id,
                    voucher.change(EntryKind::VoucherExpired, actor, now),
                )
                .map_err(|e| metering(refusal_of(e, benefit.unit)))?,
        )
    } else {
        None
    };
    Ok(Some((expired, entry)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::catalog::builtin_catalog;
    use crate::ids::AccountId;
    use crate::ledger::Figures;
    use crate::metering::MemoryLedger;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    /// A refused move is read by people: it names the states by their labels in each
    /// language, never by their codes (those are in the refusal's context).
    #[test]
    fn a_refused_move_names_states_by_their_labels() {
        let refusal = VoucherError::InvalidTransition {
            from: VoucherStatus::Assigned,
            to: VoucherStatus::Assigned,
            allowed: vec![VoucherStatus::Redeemed, VoucherStatus::Revoked],
        };
        let message = refusal.message();
        for status in [
            VoucherStatus::Assigned,
            VoucherStatus::Redeemed,
            VoucherStatus::Revoked,
        ] {
            assert!(message.fr.contains(&status.label().fr), "{}", message.fr);
            assert!(message.en.contains(&status.label().en), "{}", message.en);
            assert!(!message.fr.contains(status.code()), "{}", message.fr);
        }
    }

    fn actor() -> Actor {
        Actor {
            subject: "ana".into(),
            role: Role::CustomerAdmin,
            partner: None,
        }
    }

    fn training(ledger: &mut MemoryLedger, quantity: i64, lasts: Duration) -> Benefit {
        let t = builtin_catalog().find("training_vouchers").unwrap().clone();
        let b = Benefit {
            id: BenefitId(Uuid::new_v4()),
            account_id: AccountId(Uuid::nil()),
            type_code: t.code,
            unit: t.unit,
            figures: Some(Figures::default()),
            valid_from: now() - Duration::days(1),
            expires_at: now() + lasts,
            access_code: None,
            calculation_inputs: vec![],
            created_at: now(),
            version: 1,
        };
        ledger.grant(b.id, quantity);
        b
    }

    fn new(days: i64) -> NewVoucher {
        NewVoucher {
            holder_email: EmailAddress::parse("marie@contoso.com").unwrap(),
            holder_name: Name::parse("Marie Curie").unwrap(),
            course: Name::parse("AZ-104").unwrap(),
            days: VoucherDays::new(days).unwrap(),
        }
    }

    #[test]
    fn only_vouchers_ending_within_the_warning_count() {
        let b = BenefitId(Uuid::from_u128(1));
        let other = BenefitId(Uuid::from_u128(2));
        let at = |days: i64| now() + Duration::days(days);
        let expiries = [
            VoucherExpiry {
                benefit_id: b,
                expires_at: at(10),
                days: 3,
            },
            VoucherExpiry {
                benefit_id: b,
                expires_at: at(30),
                days: 2,
            },
            VoucherExpiry {
                benefit_id: b,
                expires_at: at(31),
                days: 5,
            },
            VoucherExpiry {
                benefit_id: b,
                expires_at: at(-1),
                days: 4,
            },
            VoucherExpiry {
                benefit_id: other,
                expires_at: at(5),
                days: 1,
            },
        ];
        assert_eq!(days_expiring_soon(&expiries, b, now()), 5);
        assert_eq!(days_expiring_soon(&expiries, other, now()), 1);
    }

    #[test]
    fn days_are_one_to_five() {
        assert!(VoucherDays::new(0).is_err());
        assert!(VoucherDays::new(6).is_err());
        assert_eq!(VoucherDays::new(5).unwrap().get(), 5);
    }

    #[test]
    fn only_assigned_vouchers_move_and_revocation_returns_the_days() {
        let mut ledger = MemoryLedger::default();
        let b = training(&mut ledger, 6, Duration::days(400));
        let (v, _) = assign(&mut ledger, &b, Uuid::new_v4(), new(4), &actor(), now()).unwrap();
        assert_eq!(ledger.figures[&b.id].used, 4);
        assert_eq!(v.expires_at, now() + LIFETIME);
        // Not more than remains.
        let refused = assign(&mut ledger, &b, Uuid::new_v4(), new(3), &actor(), now());
        assert!(matches!(refused, Err(WriteError::Refused(ref e)) if e.remaining() == Some(2)));
        let (revoked, _) = revoke(&mut ledger, &b, &v, &actor(), now()).unwrap();
        assert_eq!(revoked.status, VoucherStatus::Revoked);
        assert_eq!(ledger.figures[&b.id].used, 0);
        for to in [VoucherStatus::Revoked, VoucherStatus::Redeemed] {
            let again = revoked.moved(to, now());
            assert!(
                matches!(again, Err(VoucherError::InvalidTransition { ref allowed, .. }) if allowed.is_empty())
            );
        }
        let (v2, _) = assign(&mut ledger, &b, Uuid::new_v4(), new(2), &actor(), now()).unwrap();
        let redeemed = redeem(&v2, now()).unwrap();
        assert_eq!(redeemed.status, VoucherStatus::Redeemed);
        assert!(revoke(&mut ledger, &b, &redeemed, &actor(), now()).is_err());
        assert_eq!(ledger.figures[&b.id].used, 2);
        assert!(ledger.agrees(b.id));
    }

    #[test]
    fn expiry_returns_days_only_while_the_benefit_is_active() {
        let mut ledger = MemoryLedger::default();
        let long = training(&mut ledger, 10, Duration::days(400));
        let (v, _) = assign(&mut ledger, &long, Uuid::new_v4(), new(3), &actor(), now()).unwrap();
        let later = now() + LIFETIME;
        assert_eq!(
            v.status_at(later - Duration::seconds(1)),
            VoucherStatus::Assigned
        );
        assert_eq!(v.status_at(later), VoucherStatus::Expired);
        assert!(redeem(&v, later).is_err());
        assert!(record_expiry(
            &mut ledger,
            &long,
            &v,
            &actor(),
            later - Duration::seconds(1)
        )
        .unwrap()
        .is_none());
        let (expired, entry) = record_expiry(&mut ledger, &long, &v, &actor(), later)
            .unwrap()
            .unwrap();
        assert_eq!(expired.days_returned, Some(true));
        assert_eq!(entry.unwrap().kind, EntryKind::VoucherExpired);
        assert_eq!(ledger.figures[&long.id].used, 0);

        let short = training(&mut ledger, 10, Duration::days(100));
        let (v, _) = assign(&mut ledger, &short, Uuid::new_v4(), new(3), &actor(), now()).unwrap();
        let (expired, entry) = record_expiry(&mut ledger, &short, &v, &actor(), later)
            .unwrap()
            .unwrap();
        assert_eq!(expired.days_returned, Some(false));
        assert!(entry.is_none());
        assert_eq!(ledger.figures[&short.id].used, 3);
        assert!(ledger.agrees(short.id) && ledger.agrees(long.id));
    }

    #[test]
    fn vouchers_come_from_training_vouchers_only() {
        let mut ledger = MemoryLedger::default();
        let mut b = training(&mut ledger, 10, Duration::days(400));
        b.unit = Unit::Incidents;
        assert!(matches!(
            assign(&mut ledger, &b, Uuid::new_v4(), new(1), &actor(), now()),
            Err(WriteError::Refused(VoucherError::NotTrainingVouchers))
        ));
    }
}
