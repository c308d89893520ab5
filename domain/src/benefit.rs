//! A benefit: one catalog type held by one purchasing account, its figures, status and alerts,
//! and the rules of granting one.

use crate::catalog::{BenefitType, TypeCode, Unit};
use crate::error::{Refusal, RefusalKind};
use crate::i18n::{Language, Localized};
use crate::ids::{AccountId, BenefitId};
use crate::ledger::Figures;
use crate::values::{Name, Quantity};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How close to its end a benefit starts warning.
pub const EXPIRY_WARNING: Duration = Duration::days(30);
/// Below this share of the quantity remaining, a benefit warns (10 %).
pub const LOW_REMAINING_PERCENT: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Expired,
}

impl Status {
    pub const ALL: [Status; 2] = [Status::Active, Status::Expired];

    /// What a person reads for the status, in English and French.
    pub fn label(self) -> crate::Localized {
        match self {
            Status::Active => crate::Localized::new("Active", "Actif"),
            Status::Expired => crate::Localized::new("Expired", "Expiré"),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Expired => "expired",
        }
    }
}

/// A figure recorded by the operator with a grant, shown in the calculation view
/// (for example "Qualifying Office licences: 1200"), its label in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalculationInput {
    #[serde(deserialize_with = "crate::i18n::localized_or_plain")]
    pub label: Localized,
    pub value: i64,
}

impl CalculationInput {
    pub fn new(en: Name, fr: Name, value: i64) -> Self {
        Self {
            label: Localized::new(en.as_str(), fr.as_str()),
            value,
        }
    }
}

/// A benefit held by a purchasing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Benefit {
    pub id: BenefitId,
    pub account_id: AccountId,
    pub type_code: TypeCode,
    pub unit: Unit,
    /// `None` for an unmetered benefit.
    pub figures: Option<Figures>,
    pub valid_from: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The benefit's own program / access code, for types that have one.
    pub access_code: Option<String>,
    pub calculation_inputs: Vec<CalculationInput>,
    pub created_at: DateTime<Utc>,
    /// Bumped by every change; the HTTP `ETag`.
    pub version: i64,
}

impl Benefit {
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        if now >= self.expires_at {
            Status::Expired
        } else {
            Status::Active
        }
    }

    pub fn quantity(&self) -> Option<i64> {
        self.figures.map(|f| f.quantity)
    }

    pub fn used(&self) -> Option<i64> {
        self.figures.map(|f| f.used)
    }

    pub fn remaining(&self) -> Option<i64> {
        self.figures.map(Figures::remaining)
    }

    /// The actions an administrator should take, or should know about, now.
    pub fn alerts(&self, benefit_type: &BenefitType, context: &AlertContext) -> Vec<Alert> {
        let now = context.now;
        let mut alerts = Vec::new();
        if self.status(now) == Status::Expired {
            alerts.push(Alert::expired());
            return alerts;
        }
        if now < self.valid_from {
            alerts.push(Alert {
                code: AlertCode::NotYetValid,
                severity: Severity::Info,
                message: Localized::new(
                    format!(
                        "This benefit becomes available on {}.",
                        day(self.valid_from)
                    ),
                    format!("Cet avantage sera disponible le {}.", day(self.valid_from)),
                ),
            });
        }
        if self.expires_at - now <= EXPIRY_WARNING {
            alerts.push(Alert {
                code: AlertCode::ExpiringSoon,
                severity: Severity::Warning,
                message: Localized::new(
                    format!("This benefit expires on {}.", day(self.expires_at)),
                    format!("Cet avantage expire le {}.", day(self.expires_at)),
                ),
            });
        }
        if benefit_type.features.requires_authorized_domain && context.authorized_domains == 0 {
            alerts.push(Alert {
                code: AlertCode::DomainRequired,
                severity: Severity::Action,
                message: Localized::new(
                    "Add an eligible e-mail domain before users can be added.",
                    "Ajoutez un domaine de messagerie admissible avant de pouvoir ajouter des utilisateurs.",
                ),
            });
        }
        if let Some(figures) = self.figures {
            let remaining = figures.remaining();
            if figures.quantity > 0 && remaining * 100 < figures.quantity * LOW_REMAINING_PERCENT {
                let (en, fr) = (
                    self.unit.count(remaining, Language::En),
                    self.unit.count(remaining, Language::Fr),
                );
                alerts.push(Alert {
                    code: AlertCode::LowRemaining,
                    severity: Severity::Warning,
                    message: Localized::new(
                        format!("{en} left out of {}.", figures.quantity),
                        format!("Reste {fr} sur {}.", figures.quantity),
                    ),
                });
            }
        }
        if context.training_days_expiring_soon > 0 {
            let n = context.training_days_expiring_soon;
            alerts.push(Alert {
                code: AlertCode::TrainingDaysExpiring,
                severity: Severity::Warning,
                message: Localized::new(
                    format!(
                        "{} {} within 30 days.",
                        Unit::TrainingDays.count(n, Language::En),
                        if n == 1 { "expires" } else { "expire" }
                    ),
                    format!(
                        "{} {} dans les 30 jours.",
                        Unit::TrainingDays.count(n, Language::Fr),
                        if n < 2 { "expire" } else { "expirent" }
                    ),
                ),
            });
        }
        alerts
    }
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// What alerts need to know beyond the benefit itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertContext {
    pub now: DateTime<Utc>,
    /// How many e-mail domains the account has authorized.
    pub authorized_domains: usize,
    /// Training days on assigned vouchers that expire within 30 days.
    pub training_days_expiring_soon: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertCode {
    Expired,
    ExpiringSoon,
    NotYetValid,
    DomainRequired,
    LowRemaining,
    TrainingDaysExpiring,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    /// The administrator must do something before the benefit can be used.
    Action,
}

impl AlertCode {
    pub const ALL: [AlertCode; 6] = [
        AlertCode::Expired,
        AlertCode::ExpiringSoon,
        AlertCode::NotYetValid,
        AlertCode::DomainRequired,
        AlertCode::LowRemaining,
        AlertCode::TrainingDaysExpiring,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AlertCode::Expired => "expired",
            AlertCode::ExpiringSoon => "expiring_soon",
            AlertCode::NotYetValid => "not_yet_valid",
            AlertCode::DomainRequired => "domain_required",
            AlertCode::LowRemaining => "low_remaining",
            AlertCode::TrainingDaysExpiring => "training_days_expiring",
        }
    }
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Action];

    /// What a person reads for the severity, in English and French.
    pub fn label(self) -> crate::Localized {
        match self {
            Severity::Info => crate::Localized::new("Information", "Pour information"),
            Severity::Warning => crate::Localized::new("Warning", "Avertissement"),
            Severity::Action => crate::Localized::new("Action required", "Action requise"),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Action => "action",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub code: AlertCode,
    pub severity: Severity,
    pub message: Localized,
}

impl Alert {
    pub fn expired() -> Alert {
        Alert {
            code: AlertCode::Expired,
            severity: Severity::Warning,
            message: Localized::new("This benefit has expired", "Cet avantage a expiré"),
        }
    }
}

/// A validated grant, ready to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub type_code: TypeCode,
    pub unit: Unit,
    /// `None` exactly when the type is unmetered.
    pub quantity: Option<Quantity>,
    pub valid_from: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub calculation_inputs: Vec<CalculationInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("a quantity is required for a metered type")]
    QuantityRequired { unit: Unit },
    #[error("an unmetered type takes no quantity")]
    QuantityNotAllowed,
    #[error("expires_at must be after valid_from")]
    PeriodInverted,
    #[error("expires_at is in the past")]
    AlreadyOver,
    #[error("the account already holds this type")]
    AlreadyHeld { benefit_id: BenefitId },
}

impl Refusal for GrantError {
    fn kind(&self) -> RefusalKind {
        match self {
            GrantError::AlreadyHeld { .. } => RefusalKind::Conflict,
            // Well-formed, but refused by the rules of the type (catalog data) or of time.
            _ => RefusalKind::Rule,
        }
    }

    fn context(&self) -> Option<serde_json::Value> {
        let field = match self {
            GrantError::QuantityRequired { .. } | GrantError::QuantityNotAllowed => "quantity",
            GrantError::PeriodInverted | GrantError::AlreadyOver => "expires_at",
            GrantError::AlreadyHeld { benefit_id } => {
                return Some(serde_json::json!({ "benefit_id": benefit_id.as_uuid() }));
            }
        };
        Some(serde_json::json!({ "field": field }))
    }

    fn code(&self) -> &'static str {
        match self {
            GrantError::QuantityRequired { .. } => "quantity_required",
            GrantError::QuantityNotAllowed => "unmetered_benefit",
            GrantError::PeriodInverted => "invalid_period",
            GrantError::AlreadyOver => "invalid_period",
            GrantError::AlreadyHeld { .. } => "benefit_already_held",
        }
    }

    fn message(&self) -> Localized {
        match self {
            GrantError::QuantityRequired { unit } => Localized::new(
                format!("This type is metered in {}: a quantity is required.", unit.label(Language::En)),
                format!("Ce type se mesure en {} : une quantité est requise.", unit.label(Language::Fr)),
            ),
            GrantError::QuantityNotAllowed => Localized::new(
                "This type is not metered: leave the quantity out.",
                "Ce type n'est pas mesuré : n'indiquez pas de quantité.",
            ),
            GrantError::PeriodInverted => Localized::new(
                "expires_at must be after valid_from.",
                "expires_at doit être postérieur à valid_from.",
            ),
            GrantError::AlreadyOver => Localized::new(
                "expires_at is already past: the benefit would be expired at once.",
                "expires_at est déjà passé : l'avantage serait expiré dès sa création.",
            ),
            GrantError::AlreadyHeld { benefit_id } => Localized::new(
                format!("The account already holds an unexpired benefit of this type ({benefit_id}); adjust it instead."),
                format!("Le compte détient déjà un avantage non expiré de ce type ({benefit_id}) ; ajustez-le plutôt."),
            ),
        }
    }
}

impl Grant {
    /// Checks a grant of `benefit_type` on its own (the account's other benefits are checked
    /// by [`Grant::check_against`] inside the transaction that records it).
    pub fn new(
        benefit_type: &BenefitType,
        quantity: Option<Quantity>,
        valid_from: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        calculation_inputs: Vec<CalculationInput>,
        now: DateTime<Utc>,
    ) -> Result<Grant, GrantError> {
        match (benefit_type.unit.is_metered(), quantity) {
            (true, None) => {
                return Err(GrantError::QuantityRequired {
                    unit: benefit_type.unit,
                })
            }
            (false, Some(_)) => return Err(GrantError::QuantityNotAllowed),
            _ => {}
        }
        if expires_at <= valid_from {
            return Err(GrantError::PeriodInverted);
        }
        if expires_at <= now {
            return Err(GrantError::AlreadyOver);
        }
        Ok(Grant {
            type_code: benefit_type.code.clone(),
            unit: benefit_type.unit,
            quantity,
            valid_from,
            expires_at,
            calculation_inputs,
        })
    }

    /// An account holds at most one unexpired benefit of each type: more quantity is an
    /// adjustment, not a second benefit.
    pub fn check_against(&self, held: &[Benefit], now: DateTime<Utc>) -> Result<(), GrantError> {
        match held
            .iter()
            .find(|b| b.type_code == self.type_code && b.status(now) == Status::Active)
        {
            Some(b) => Err(GrantError::AlreadyHeld { benefit_id: b.id }),
            None => Ok(()),
        }
    }

    pub fn figures(&self) -> Option<Figures> {
        self.quantity.map(|q| Figures {
            quantity: q.get(),
            used: 0,
        })
    }
}

/// Splits an account's benefits the way the portal shows them, in catalog order: "your
/// benefits" are the active ones; "other benefits you may be eligible for" are the catalog types the account
/// does not hold, plus the expired benefits.
pub fn split_for_portal<'a>(
    catalog: &'a [BenefitType],
    held: &'a [Benefit],
    now: DateTime<Utc>,
) -> (Vec<&'a Benefit>, Vec<OtherBenefit<'a>>) {
    let active: Vec<&Benefit> = catalog
        .iter()
        .flat_map(|t| held.iter().filter(move |b| b.type_code == t.code))
        .filter(|b| b.status(now) == Status::Active)
        .collect();
    let mut other = Vec::new();
    for benefit_type in catalog {
        if active.iter().any(|b| b.type_code == benefit_type.code) {
            continue;
        }
        let expired: Vec<&Benefit> = held
            .iter()
            .filter(|b| b.type_code == benefit_type.code && b.status(now) == Status::Expired)
            .collect();
        if expired.is_empty() {
            other.push(OtherBenefit::NotHeld(benefit_type));
        } else {
            other.extend(
                expired
                    .into_iter()
                    .map(|b| OtherBenefit::Expired(benefit_type, b)),
            );
        }
    }
    (active, other)
}

/// An entry of "other benefits you may be eligible for".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherBenefit<'a> {
    NotHeld(&'a BenefitType),
    Expired(&'a BenefitType, &'a Benefit),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builtin_catalog;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).unwrap()
    }

    fn benefit(code: &str, quantity: Option<i64>, used: i64, expires: DateTime<Utc>) -> Benefit {
        let t = builtin_catalog().find(code).unwrap().clone();
        Benefit {
            id: BenefitId(Uuid::new_v4()),
            account_id: AccountId(Uuid::nil()),
            type_code: t.code,
            unit: t.unit,
            figures: quantity.map(|quantity| Figures { quantity, used }),
            valid_from: at(1),
            expires_at: expires,
            access_code: None,
            calculation_inputs: vec![],
            created_at: at(1),
            version: 1,
        }
    }

    fn context(now: DateTime<Utc>, domains: usize) -> AlertContext {
        AlertContext {
            now,
            authorized_domains: domains,
            training_days_expiring_soon: 0,
        }
    }

    #[test]
    fn status_turns_expired_at_the_end_date() {
        let b = benefit("e_learning", Some(10), 0, at(20));
        assert_eq!(b.status(at(19)), Status::Active);
        assert_eq!(b.status(at(20)), Status::Expired);
    }

    #[test]
    fn unmetered_benefits_have_no_figures() {
        let b = benefit("dynamics_customersource", None, 0, at(20));
        assert_eq!((b.quantity(), b.used(), b.remaining()), (None, None, None));
    }

    #[test]
    fn alerts_follow_the_benefit() {
        let catalog = builtin_catalog();
        let e_learning = catalog.find("e_learning").unwrap();
        let far = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let b = benefit("e_learning", Some(100), 95, far);
        let codes: Vec<AlertCode> = b
            .alerts(e_learning, &context(at(2), 0))
            .iter()
            .map(|a| a.code)
            .collect();
        assert_eq!(
            codes,
            vec![AlertCode::DomainRequired, AlertCode::LowRemaining]
        );
        let codes: Vec<AlertCode> = b
            .alerts(e_learning, &context(at(2), 1))
            .iter()
            .map(|a| a.code)
            .collect();
        assert_eq!(codes, vec![AlertCode::LowRemaining]);
        let healthy = benefit("e_learning", Some(100), 90, far);
        assert!(
            healthy.alerts(e_learning, &context(at(2), 1)).is_empty(),
            "exactly 10% left is not low"
        );
        let soon = benefit("e_learning", Some(100), 0, at(25));
        let alerts = soon.alerts(e_learning, &context(at(2), 1));
        assert_eq!(alerts[0].code, AlertCode::ExpiringSoon);
        assert_eq!(
            alerts[0].message.get(Language::Fr),
            "Cet avantage expire le 2026-01-25."
        );
        let expired = soon.alerts(e_learning, &context(at(26), 1));
        assert_eq!(expired, vec![Alert::expired()]);
        assert_eq!(expired[0].message.en, "This benefit has expired");
    }

    #[test]
    fn grants_follow_the_unit() {
        let catalog = builtin_catalog();
        let metered = catalog.find("e_learning").unwrap();
        let unmetered = catalog.find("dynamics_customersource").unwrap();
        let q = Some(Quantity::new(5).unwrap());
        assert!(Grant::new(metered, q, at(1), at(20), vec![], at(1)).is_ok());
        assert!(matches!(
            Grant::new(metered, None, at(1), at(20), vec![], at(1)),
            Err(GrantError::QuantityRequired { .. })
        ));
        assert_eq!(
            Grant::new(unmetered, q, at(1), at(20), vec![], at(1)),
            Err(GrantError::QuantityNotAllowed)
        );
        assert!(Grant::new(unmetered, None, at(1), at(20), vec![], at(1))
            .unwrap()
            .figures()
            .is_none());
        assert_eq!(
            Grant::new(metered, q, at(20), at(20), vec![], at(1)),
            Err(GrantError::PeriodInverted)
        );
        assert_eq!(
            Grant::new(metered, q, at(1), at(5), vec![], at(6)),
            Err(GrantError::AlreadyOver)
        );
    }

    #[test]
    fn an_account_holds_one_unexpired_benefit_per_type() {
        let catalog = builtin_catalog();
        let t = catalog.find("e_learning").unwrap();
        let grant = Grant::new(
            t,
            Some(Quantity::new(5).unwrap()),
            at(1),
            at(30),
            vec![],
            at(2),
        )
        .unwrap();
        let held = benefit("e_learning", Some(3), 0, at(10));
        assert!(matches!(
            grant.check_against(std::slice::from_ref(&held), at(2)),
            Err(GrantError::AlreadyHeld { .. })
        ));
        assert!(
            grant.check_against(&[held], at(10)).is_ok(),
            "an expired one does not count"
        );
        let other_type = benefit("home_use_program", Some(3), 0, at(10));
        assert!(grant.check_against(&[other_type], at(2)).is_ok());
    }

    #[test]
    fn the_portal_split_puts_expired_and_missing_types_in_other() {
        let catalog = builtin_catalog();
        let held = vec![
            benefit("training_vouchers", Some(3), 0, at(30)),
            benefit("e_learning", Some(3), 0, at(30)),
            benefit("home_use_program", Some(3), 0, at(10)),
        ];
        let (active, other) = split_for_portal(catalog.types(), &held, at(15));
        let codes: Vec<&str> = active.iter().map(|b| b.type_code.as_str()).collect();
        assert_eq!(
            codes,
            vec!["e_learning", "training_vouchers"],
            "catalog order"
        );
        assert_eq!(other.len(), 8);
        assert!(other.iter().any(
            |o| matches!(o, OtherBenefit::Expired(t, _) if t.code.as_str() == "home_use_program")
        ));
        assert!(!other.iter().any(
            |o| matches!(o, OtherBenefit::NotHeld(t) if t.code.as_str() == "home_use_program")
        ));
    }
}

#[cfg(test)]
mod code_tests {
    use super::*;

    /// The codes are the serde names clients already read.
    #[test]
    fn alert_codes_and_severities_are_their_serde_names() {
        for code in AlertCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.code());
        }
        for severity in Severity::ALL {
            assert_eq!(serde_json::to_value(severity).unwrap(), severity.code());
        }
        for status in Status::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.code());
        }
    }
}
