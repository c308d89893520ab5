//! The append-only ledger of a benefit: every change of `quantity` or `used` is one entry,
//! and the benefit's figures always equal the ledger's sums.

use crate::i18n::Localized;
use serde::{Deserialize, Serialize};

/// Which of the two figures an entry changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Quantity,
    Used,
}

/// The kinds of ledger entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Grant,
    Adjustment,
    Consumption,
    Release,
    VoucherAssigned,
    VoucherRevoked,
    VoucherExpired,
    ConversionIn,
    ConversionOut,
    Expiry,
}

impl EntryKind {
    pub const ALL: [EntryKind; 10] = [
        EntryKind::Grant,
        EntryKind::Adjustment,
        EntryKind::Consumption,
        EntryKind::Release,
        EntryKind::VoucherAssigned,
        EntryKind::VoucherRevoked,
        EntryKind::VoucherExpired,
        EntryKind::ConversionIn,
        EntryKind::ConversionOut,
        EntryKind::Expiry,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
            EntryKind::Adjustment => "adjustment",
            EntryKind::Consumption => "consumption",
            EntryKind::Release => "release",
            EntryKind::VoucherAssigned => "voucher_assigned",
            EntryKind::VoucherRevoked => "voucher_revoked",
            EntryKind::VoucherExpired => "voucher_expired",
            EntryKind::ConversionIn => "conversion_in",
            EntryKind::ConversionOut => "conversion_out",
            EntryKind::Expiry => "expiry",
        }
    }

    pub fn parse(code: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// What a person reads for the kind, in English and French.
    pub fn label(self) -> crate::Localized {
        let (en, fr) = match self {
            EntryKind::Grant => ("Grant", "Attribution"),
            EntryKind::Adjustment => ("Adjustment", "Ajustement"),
            EntryKind::Consumption => ("Consumption", "Consommation"),
            EntryKind::Release => ("Release", "Restitution"),
            EntryKind::VoucherAssigned => ("Voucher assigned", "Bon attribué"),
            EntryKind::VoucherRevoked => ("Voucher revoked", "Bon révoqué"),
            EntryKind::VoucherExpired => ("Voucher expired", "Bon expiré"),
            EntryKind::ConversionIn => ("Conversion received", "Conversion reçue"),
            EntryKind::ConversionOut => ("Conversion given", "Conversion cédée"),
            EntryKind::Expiry => ("Expiry", "Expiration"),
        };
        crate::Localized::new(en, fr)
    }

    /// The figure this kind of entry changes.
    pub fn figure(self) -> Figure {
        match self {
            EntryKind::Grant
            | EntryKind::Adjustment
            | EntryKind::ConversionIn
            | EntryKind::ConversionOut
            | EntryKind::Expiry => Figure::Quantity,
            EntryKind::Consumption
            | EntryKind::Release
            | EntryKind::VoucherAssigned
            | EntryKind::VoucherRevoked
            | EntryKind::VoucherExpired => Figure::Used,
        }
    }
}

/// A benefit's metered figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub quantity: i64,
    pub used: i64,
}

/// An entry would break `0 <= used <= quantity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("only {remaining} remaining")]
    NotEnoughRemaining { remaining: i64 },
    #[error("quantity may not go below the {used} already used")]
    BelowUsed { used: i64 },
    #[error("more released than used")]
    ReleaseAboveUsed { used: i64 },
}

impl LedgerError {
    pub fn message(&self, unit: crate::catalog::Unit) -> Localized {
        match *self {
            LedgerError::NotEnoughRemaining { remaining } => unit.counted(
                remaining,
                "Not enough remaining: {} left.",
                "Quantité restante insuffisante : reste {}.",
            ),
            LedgerError::BelowUsed { used } => unit.counted(
                used,
                "The quantity may not go below what is already used ({}).",
                "La quantité ne peut pas descendre sous ce qui est déjà utilisé ({}).",
            ),
            LedgerError::ReleaseAboveUsed { used } => unit.counted(
                used,
                "Only {} used; no more can be given back.",
                "Utilisé : {} seulement ; impossible d'en rendre davantage.",
            ),
        }
    }
}

impl Figures {
    pub fn remaining(self) -> i64 {
        self.quantity - self.used
    }

    /// The figures after one entry of `kind` with the signed `amount`, or why it is refused.
    pub fn apply(self, kind: EntryKind, amount: i64) -> Result<Figures, LedgerError> {
        match kind.figure() {
            Figure::Quantity => {
                let quantity = self.quantity + amount;
                if quantity < self.used {
                    return Err(if amount < 0 && kind != EntryKind::Adjustment {
                        LedgerError::NotEnoughRemaining {
                            remaining: self.remaining(),
                        }
                    } else {
                        LedgerError::BelowUsed { used: self.used }
                    });
                }
                Ok(Figures { quantity, ..self })
            }
            Figure::Used => {
                let used = self.used + amount;
                if used > self.quantity {
                    return Err(LedgerError::NotEnoughRemaining {
                        remaining: self.remaining(),
                    });
                }
                if used < 0 {
                    return Err(LedgerError::ReleaseAboveUsed { used: self.used });
                }
                Ok(Figures { used, ..self })
            }
        }
    }

    /// The figures a ledger adds up to.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (EntryKind, i64)> + 'a) -> Figures {
        entries
            .into_iter()
            .fold(Figures::default(), |f, (kind, amount)| {
                match kind.figure() {
                    Figure::Quantity => Figures {
                        quantity: f.quantity + amount,
                        ..f
                    },
                    Figure::Used => Figures {
                        used: f.used + amount,
                        ..f
                    },
                }
            })
    }

    /// The ledger invariant: the figures are those the ledger adds up to, and
    /// `0 <= used <= quantity`.
    pub fn agree_with(self, entries: impl IntoIterator<Item = (EntryKind, i64)>) -> bool {
        Figures::from_entries(entries) == self && 0 <= self.used && self.used <= self.quantity
    }
}

/// Totals of a ledger by kind, for the calculation view.
pub fn totals_by_kind(
    entries: impl IntoIterator<Item = (EntryKind, i64)>,
) -> Vec<(EntryKind, i64)> {
    let mut totals: Vec<(EntryKind, i64)> = Vec::new();
    for (kind, amount) in entries {
        match totals.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, total)) => *total += amount,
            None => totals.push((kind, amount)),
        }
    }
    totals.sort_by_key(|(k, _)| EntryKind::ALL.iter().position(|x| x == k));
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn consumption_never_exceeds_the_quantity() {
        let f = Figures {
            quantity: 5,
            used: 4,
        };
        assert_eq!(f.apply(EntryKind::Consumption, 1).unwrap().remaining(), 0);
        assert_eq!(
            f.apply(EntryKind::Consumption, 2),
            Err(LedgerError::NotEnoughRemaining { remaining: 1 })
        );
    }

    #[test]
    fn quantity_never_goes_below_used() {
        let f = Figures {
            quantity: 10,
            used: 6,
        };
        assert_eq!(f.apply(EntryKind::Adjustment, -4).unwrap().quantity, 6);
        assert_eq!(
            f.apply(EntryKind::Adjustment, -5),
            Err(LedgerError::BelowUsed { used: 6 })
        );
        assert_eq!(
            f.apply(EntryKind::ConversionOut, -6),
            Err(LedgerError::NotEnoughRemaining { remaining: 4 })
        );
    }

    #[test]
    fn releases_never_exceed_used() {
        let f = Figures {
            quantity: 10,
            used: 1,
        };
        assert_eq!(
            f.apply(EntryKind::Release, -2),
            Err(LedgerError::ReleaseAboveUsed { used: 1 })
        );
        assert_eq!(f.apply(EntryKind::Release, -1).unwrap().used, 0);
    }

    #[test]
    fn totals_are_grouped_in_kind_order() {
        let totals = totals_by_kind([
            (EntryKind::Consumption, 2),
            (EntryKind::Grant, 10),
            (EntryKind::Consumption, 3),
        ]);
        assert_eq!(
            totals,
            vec![(EntryKind::Grant, 10), (EntryKind::Consumption, 5)]
        );
    }

    fn any_entry() -> impl Strategy<Value = (EntryKind, i64)> {
        (prop::sample::select(EntryKind::ALL.to_vec()), -20i64..=20)
    }

    proptest! {
        /// Whatever is attempted, accepted entries keep `0 <= used <= quantity`, and the
        /// figures equal the sums of the accepted entries.
        #[test]
        fn accepted_entries_keep_the_invariant(start in 0i64..50, attempts in prop::collection::vec(any_entry(), 0..200)) {
            let mut figures = Figures { quantity: start, used: 0 };
            let mut ledger = vec![(EntryKind::Grant, start)];
            for (kind, amount) in attempts {
                if let Ok(next) = figures.apply(kind, amount) {
                    figures = next;
                    ledger.push((kind, amount));
                }
                prop_assert!(0 <= figures.used && figures.used <= figures.quantity);
                prop_assert!(figures.agree_with(ledger.iter().copied()));
            }
        }
    }
}
