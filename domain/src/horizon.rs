//! How long what the portal shows of an account stays true by time alone. Statuses, alerts
//! and the split into "your benefits" / "other benefits" depend on the clock; each of those
//! rules turns at a known instant. Until the first such instant after `now`, only a write can
//! change the views, so an answer read at `now` may be served again until then (as long as
//! nothing was written: the caller checks that).

use crate::benefit::{Benefit, EXPIRY_WARNING};
use crate::voucher::VoucherExpiry;
use chrono::{DateTime, Utc};

/// The first instant after `now` at which a benefit starts, enters its warning period or
/// expires, or an assigned voucher enters its warning period or expires; `None` if there is
/// none. Every time rule of [`Benefit::status`], [`Benefit::alerts`],
/// [`crate::benefit::split_for_portal`] and [`crate::voucher::days_expiring_soon`] reads
/// "`now` is at or after one of these instants", so on `[now, horizon)` they all read the
/// same as at `now`.
pub fn time_horizon(
    held: &[Benefit],
    vouchers: &[VoucherExpiry],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let benefits = held
        .iter()
        .flat_map(|b| [b.valid_from, b.expires_at - EXPIRY_WARNING, b.expires_at]);
    let vouchers = vouchers
        .iter()
        .flat_map(|v| [v.expires_at - EXPIRY_WARNING, v.expires_at]);
    benefits.chain(vouchers).filter(|t| *t > now).min()
}

/// The earlier of two horizons, where `None` means "never".
pub fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::benefit::{split_for_portal, Alert, AlertContext, OtherBenefit, Status};
    use crate::catalog::builtin_catalog;
    use crate::ids::{AccountId, BenefitId};
    use crate::ledger::Figures;
    use crate::voucher::days_expiring_soon;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use uuid::Uuid;

    fn origin() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn hours(h: i64) -> DateTime<Utc> {
        origin() + Duration::hours(h)
    }

    fn benefit(code_index: usize, from: i64, length: i64, used: i64) -> Benefit {
        let catalog = builtin_catalog();
        let t = &catalog.types()[code_index % catalog.types().len()];
        Benefit {
            id: BenefitId(Uuid::new_v4()),
            account_id: AccountId(Uuid::nil()),
            type_code: t.code.clone(),
            unit: t.unit,
            figures: Some(Figures {
                quantity: 100,
                used,
            }),
            valid_from: hours(from),
            expires_at: hours(from + length),
            access_code: None,
            calculation_inputs: vec![],
            created_at: origin(),
            version: 1,
        }
    }

    /// Per benefit its status and alerts; the ids of "your benefits"; "other benefits".
    type Shown = (
        Vec<(BenefitId, Status, Vec<Alert>)>,
        Vec<BenefitId>,
        Vec<String>,
    );

    /// Everything time-dependent the portal shows of these benefits at `now`.
    fn shown(held: &[Benefit], vouchers: &[VoucherExpiry], now: DateTime<Utc>) -> Shown {
        let catalog = builtin_catalog();
        let per_benefit = held
            .iter()
            .map(|b| {
                let t = catalog.find(b.type_code.as_str()).expect("catalog type");
                let context = AlertContext {
                    now,
                    authorized_domains: 0,
                    training_days_expiring_soon: days_expiring_soon(vouchers, b.id, now),
                };
                (b.id, b.status(now), b.alerts(t, &context))
            })
            .collect();
        let (active, other) = split_for_portal(catalog.types(), held, now);
        let other = other
            .iter()
            .map(|o| match o {
                OtherBenefit::NotHeld(t) => t.code.as_str().to_owned(),
                OtherBenefit::Expired(_, b) => b.id.to_string(),
            })
            .collect();
        (per_benefit, active.iter().map(|b| b.id).collect(), other)
    }

    #[test]
    fn the_horizon_is_the_next_turn_of_any_rule() {
        let held = [benefit(0, 0, 24 * 365, 0)];
        let voucher = VoucherExpiry {
            benefit_id: held[0].id,
            expires_at: hours(24 * 100),
            days: 2,
        };
        // Before the start: the start.
        assert_eq!(time_horizon(&held, &[], hours(-5)), Some(hours(0)));
        // Running: the voucher's warning period begins 30 days before it expires.
        assert_eq!(
            time_horizon(&held, &[voucher], hours(1)),
            Some(hours(24 * 70))
        );
        assert_eq!(
            time_horizon(&held, &[voucher], hours(24 * 70)),
            Some(hours(24 * 100))
        );
        // Then the benefit's warning period, then its end, then nothing.
        assert_eq!(
            time_horizon(&held, &[voucher], hours(24 * 100)),
            Some(hours(24 * 335))
        );
        assert_eq!(
            time_horizon(&held, &[], hours(24 * 335)),
            Some(hours(24 * 365))
        );
        assert_eq!(time_horizon(&held, &[], hours(24 * 365)), None);
    }

    #[test]
    fn earliest_treats_none_as_never() {
        assert_eq!(earliest(None, None), None);
        assert_eq!(earliest(Some(hours(1)), None), Some(hours(1)));
        assert_eq!(earliest(None, Some(hours(2))), Some(hours(2)));
        assert_eq!(earliest(Some(hours(3)), Some(hours(2))), Some(hours(2)));
    }

    fn portfolio() -> impl Strategy<Value = (Vec<Benefit>, Vec<VoucherExpiry>)> {
        let benefits =
            prop::collection::vec((0usize..12, -2000i64..2000, 1i64..3000, 0i64..=100), 0..6);
        benefits.prop_flat_map(|specs| {
            let held: Vec<Benefit> = specs
                .into_iter()
                .map(|(code, from, length, used)| benefit(code, from, length, used))
                .collect();
            let n = held.len();
            let vouchers = prop::collection::vec((0..n.max(1), -2000i64..4000, 1i64..=5), 0..6);
            (Just(held), vouchers).prop_map(|(held, specs)| {
                let vouchers = if held.is_empty() {
                    vec![]
                } else {
                    specs
                        .into_iter()
                        .map(|(i, at, days)| VoucherExpiry {
                            benefit_id: held[i % held.len()].id,
                            expires_at: hours(at),
                            days,
                        })
                        .collect()
                };
                (held, vouchers)
            })
        })
    }

    proptest! {
        /// What is shown at any instant before the horizon is what was shown at `now`.
        #[test]
        fn nothing_shown_changes_before_the_horizon(
            (held, vouchers) in portfolio(),
            now_hours in -3000i64..6000,
            minutes_before_horizon in prop::collection::vec(1i64..200_000, 1..8),
        ) {
            let now = hours(now_hours);
            let at_now = shown(&held, &vouchers, now);
            let horizon = time_horizon(&held, &vouchers, now);
            if let Some(h) = horizon {
                prop_assert!(h > now);
                // The last instant before the horizon, at the microsecond both databases keep.
                let last = h - Duration::microseconds(1);
                prop_assert_eq!(&shown(&held, &vouchers, last), &at_now);
            }
            for m in minutes_before_horizon {
                let t = now + Duration::minutes(m);
                if horizon.is_none_or(|h| t < h) {
                    prop_assert_eq!(&shown(&held, &vouchers, t), &at_now);
                }
            }
        }
    }
}
