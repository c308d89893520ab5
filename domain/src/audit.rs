//! The audit log: every change, by whom, on whose behalf. Written in the same transaction as
//! the change it records.

use crate::auth::Actor;
use crate::i18n::Localized;
use crate::ids::OrganizationId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

macro_rules! actions {
    ($($variant:ident => $code:literal, $en:literal, $fr:literal),* $(,)?) => {
        /// What was done.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction { $($variant),* }

        impl AuditAction {
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant),*];

            pub fn code(self) -> &'static str {
                match self { $(AuditAction::$variant => $code),* }
            }

            pub fn parse(code: &str) -> Option<AuditAction> {
                match code { $($code => Some(AuditAction::$variant),)* _ => None }
            }

            /// What a person reads in the audit log.
            pub fn label(self) -> Localized {
                match self { $(AuditAction::$variant => Localized::new($en, $fr)),* }
            }
        }
    };
}

actions! {
    OrganizationCreated => "organization_created", "Organization created", "Organisation créée",
    OrganizationUpdated => "organization_updated", "Organization updated", "Organisation modifiée",
    AccountCreated => "account_created", "Purchasing account created", "Compte d'achat créé",
    PartnerCreated => "partner_created", "Partner created", "Partenaire créé",
    PartnerUpdated => "partner_updated", "Partner updated", "Partenaire modifié",
    BenefitGranted => "benefit_granted", "Benefit granted", "Avantage attribué",
    BenefitAdjusted => "benefit_adjusted", "Benefit adjusted", "Avantage ajusté",
    BenefitConsumed => "benefit_consumed", "Benefit consumed", "Avantage consommé",
    BenefitExpired => "benefit_expired", "Benefit expired", "Avantage expiré",
    BenefitTypeAdded => "benefit_type_added", "Benefit type added to the catalog", "Type d'avantage ajouté au catalogue",
    PermissionRequested => "permission_requested", "Permission requested", "Autorisation demandée",
    PermissionApproved => "permission_approved", "Permission approved", "Autorisation approuvée",
    PermissionDeclined => "permission_declined", "Permission declined", "Autorisation refusée",
    PermissionWithdrawn => "permission_withdrawn", "Request withdrawn", "Demande retirée",
    PermissionRemoved => "permission_removed", "Permission removed", "Autorisation retirée",
    PermissionExpired => "permission_expired", "Permission expired", "Autorisation expirée",
    VoucherAssigned => "voucher_assigned", "Voucher assigned", "Bon attribué",
    VoucherRevoked => "voucher_revoked", "Voucher revoked", "Bon révoqué",
    VoucherRedeemed => "voucher_redeemed", "Voucher redeemed", "Bon utilisé",
    VoucherExpired => "voucher_expired", "Voucher expired", "Bon expiré",
    ConversionMade => "conversion_made", "Conversion made", "Conversion effectuée",
    DomainAdded => "domain_added", "Domain added", "Domaine ajouté",
    DomainRemoved => "domain_removed", "Domain removed", "Domaine supprimé",
    UserAdded => "user_added", "User added", "Utilisateur ajouté",
    UserModified => "user_modified", "User modified", "Utilisateur modifié",
    UserRemoved => "user_removed", "User removed", "Utilisateur supprimé",
    InstructionsSent => "instructions_sent", "Instructions sent", "Instructions envoyées",
    AccessCodeSent => "access_code_sent", "Access code sent", "Code d'accès envoyé",
    DownloadRecorded => "download_recorded", "Download recorded", "Téléchargement enregistré",
    ProductKeysViewed => "product_keys_viewed", "Product keys viewed", "Clés de produit consultées",
}

/// What a change was made to: a kind and an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub kind: TargetKind,
    pub id: Uuid,
}

impl TargetKind {
    /// The target of this kind with `id`.
    pub fn target(self, id: Uuid) -> Target {
        Target { kind: self, id }
    }
}

impl AuditAction {
    /// The audit action of a permission moved to `to` (each status of the state machine has
    /// its own).
    pub fn permission_moved(to: crate::permission::PermissionStatus) -> AuditAction {
        use crate::permission::PermissionStatus::*;
        match to {
            Pending => AuditAction::PermissionRequested,
            Approved => AuditAction::PermissionApproved,
            Declined => AuditAction::PermissionDeclined,
            Withdrawn => AuditAction::PermissionWithdrawn,
            Removed => AuditAction::PermissionRemoved,
            Expired => AuditAction::PermissionExpired,
        }
    }
}

/// The short accounts of changes the audit log shows, in both languages. Names, addresses
/// and domains read the same in each; every word around them is translated.
pub mod details {
    use crate::auth::Scope;
    use crate::catalog::Unit;
    use crate::i18n::{Language, Localized};
    use crate::ledger::EntryKind;
    use crate::permission::PermissionStatus;
    use crate::voucher::VoucherStatus;
    use std::fmt::Display;

    fn each(text: impl Fn(Language) -> String) -> Localized {
        Localized::new(text(Language::En), text(Language::Fr))
    }

    /// A benefit granted: "10 incidents" (nothing for an unmetered type).
    pub fn granted(quantity: Option<i64>, unit: Unit) -> Option<Localized> {
        quantity.map(|q| each(|l| unit.count(q, l)))
    }

    /// A ledger change: "Consumption: +1 incident".
    pub fn ledger_change(kind: EntryKind, amount: i64, unit: Unit) -> Localized {
        let label = kind.label();
        let sign = if amount > 0 { "+" } else { "" };
        each(|l| match l {
            Language::En => format!("{}: {sign}{}", label.get(l), unit.count(amount, l)),
            Language::Fr => format!("{} : {sign}{}", label.get(l), unit.count(amount, l)),
        })
    }

    /// A benefit expired with `lapsed` units left.
    pub fn benefit_expired(lapsed: i64, unit: Unit) -> Localized {
        unit.counted(
            lapsed,
            "Lapsed with the benefit: {}",
            "Perdu avec l'avantage : {}",
        )
    }

    /// A conversion: "6 training days -> 2 planning days".
    pub fn conversion(forward: bool, training_days: i64, planning_days: i64) -> Localized {
        let (training, planning) = (Unit::TrainingDays, Unit::PlanningDays);
        each(|l| {
            let (t, p) = (
                training.count(training_days, l),
                planning.count(planning_days, l),
            );
            if forward {
                format!("{t} → {p}")
            } else {
                format!("{p} → {t}")
            }
        })
    }

    /// A voucher assigned: "3 days to ana@contoso.com".
    pub fn voucher_assigned(days: i64, holder: impl Display) -> Localized {
        Localized::new(
            format!(
                "{} to {holder}",
                Unit::TrainingDays.count(days, Language::En)
            ),
            format!(
                "{} pour {holder}",
                Unit::TrainingDays.count(days, Language::Fr)
            ),
        )
    }

    /// A voucher's move: "Assigned → Revoked".
    pub fn voucher_moved(from: VoucherStatus, to: VoucherStatus) -> Localized {
        each(|l| format!("{} → {}", from.label().get(l), to.label().get(l)))
    }

    /// A voucher expired, its days back in the pool or lost with the expired benefit.
    pub fn voucher_expired(days: i64, returned: bool) -> Localized {
        let (en, fr) = if returned {
            ("Back to the pool: {}", "Rendu au solde : {}")
        } else {
            (
                "Lost with the expired benefit: {}",
                "Perdu avec l'avantage expiré : {}",
            )
        };
        Unit::TrainingDays.counted(days, en, fr)
    }

    /// A user of a benefit: "ana@contoso.com on E-Learning".
    pub fn user_on(email: impl Display, benefit: &Localized) -> Localized {
        Localized::new(
            format!("{email} on {}", benefit.en),
            format!("{email} pour {}", benefit.fr),
        )
    }

    /// A user's address changed.
    pub fn user_changed(from: impl Display, to: impl Display) -> Localized {
        Localized::same(format!("{from} → {to}"))
    }

    /// A user removed with its domain.
    pub fn user_with_domain(email: impl Display, domain: &str) -> Localized {
        Localized::new(
            format!("{email} (with the domain {domain})"),
            format!("{email} (avec le domaine {domain})"),
        )
    }

    /// Product keys shown.
    pub fn keys_viewed(count: usize) -> Localized {
        Localized::new(format!("{count} keys"), format!("{count} clés"))
    }

    /// The scopes of a request, by their labels.
    pub fn scopes(scopes: &[Scope]) -> Localized {
        each(|l| {
            scopes
                .iter()
                .map(|s| s.label().get(l).to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// A permission's move: "Pending → Approved".
    pub fn permission_moved(from: Option<PermissionStatus>, to: PermissionStatus) -> Localized {
        each(|l| match from {
            Some(from) => format!("{} → {}", from.label().get(l), to.label().get(l)),
            None => to.label().get(l).to_owned(),
        })
    }

    /// An organization's e-mail settings changed.
    pub fn organization_updated(contacts: usize, language: Language) -> Localized {
        Localized::new(
            format!(
                "{contacts} contact e-mails, e-mails in {}",
                language_name(language, Language::En)
            ),
            format!(
                "{contacts} adresses de contact, e-mails en {}",
                language_name(language, Language::Fr)
            ),
        )
    }

    /// A partner's e-mail language changed.
    pub fn partner_updated(language: Language) -> Localized {
        Localized::new(
            format!("e-mails in {}", language_name(language, Language::En)),
            format!("e-mails en {}", language_name(language, Language::Fr)),
        )
    }

    /// A language's name, in `reader`'s language.
    pub fn language_name(language: Language, reader: Language) -> &'static str {
        match (language, reader) {
            (Language::En, Language::En) => "English",
            (Language::Fr, Language::En) => "French",
            (Language::En, Language::Fr) => "anglais",
            (Language::Fr, Language::Fr) => "français",
        }
    }
}

/// What a change was made to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Organization,
    Account,
    Partner,
    Benefit,
    Permission,
    Voucher,
    Conversion,
    User,
    /// A type of the catalog (its id is derived from its code).
    BenefitType,
}

impl TargetKind {
    pub const ALL: [TargetKind; 9] = [
        TargetKind::Organization,
        TargetKind::Account,
        TargetKind::Partner,
        TargetKind::Benefit,
        TargetKind::Permission,
        TargetKind::Voucher,
        TargetKind::Conversion,
        TargetKind::User,
        TargetKind::BenefitType,
    ];

    pub fn code(self) -> &'static str {
        match self {
            TargetKind::Organization => "organization",
            TargetKind::Account => "account",
            TargetKind::Partner => "partner",
            TargetKind::Benefit => "benefit",
            TargetKind::Permission => "permission",
            TargetKind::Voucher => "voucher",
            TargetKind::Conversion => "conversion",
            TargetKind::User => "user",
            TargetKind::BenefitType => "benefit_type",
        }
    }

    pub fn parse(code: &str) -> Option<TargetKind> {
        TargetKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: Uuid,
    /// The organization concerned (`None` for a partner's creation).
    pub organization_id: Option<OrganizationId>,
    /// The purchasing account concerned, when the change is about one of its benefits,
    /// vouchers, users or domains and nothing else of the organization (it then leaves the
    /// organization's other accounts' kept answers alone). Not stored.
    pub account_id: Option<crate::ids::AccountId>,
    /// Who did it; `actor.partner` is set when a partner acted on behalf of the organization.
    pub actor: Actor,
    pub action: AuditAction,
    pub target_kind: TargetKind,
    pub target_id: Uuid,
    /// A short account of the change in both languages, e.g. "2 incidents consumed".
    pub detail: Option<Localized>,
    pub at: DateTime<Utc>,
}

impl AuditEvent {
    /// The same line, about one purchasing account only (see [`AuditEvent::account_id`]).
    pub fn about_account(mut self, account: crate::ids::AccountId) -> Self {
        self.account_id = Some(account);
        self
    }

    /// Whether it was done by a partner on behalf of the organization.
    pub fn on_behalf_of(&self) -> Option<OrganizationId> {
        self.actor.partner.and(self.organization_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.code()), Some(*action));
            assert!(seen.insert(action.code()));
        }
    }
}
