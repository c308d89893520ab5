//! The people and e-mail domains that receive benefits, and the downloads of the software
//! benefits. Adding a user consumes a unit where the type says so and removing one gives it
//! back where it says so, always through the ledger.

use crate::auth::Actor;
use crate::benefit::Benefit;
use crate::catalog::{BenefitType, Software};
use crate::error::WriteError;
use crate::error::{Refusal, RefusalKind};
use crate::i18n::Localized;
use crate::ids::BenefitId;
use crate::ledger::EntryKind;
use crate::metering::{check_usable, refusal_of, Change, LedgerEntry, LedgerStore, MeteringError};
use crate::values::{DomainName, EmailAddress, Name};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A person who receives a benefit (an authorized contact, an e-learning participant, a
/// Home Use Program user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenefitUser {
    pub id: Uuid,
    pub benefit_id: BenefitId,
    pub email: EmailAddress,
    pub display_name: Name,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BenefitUser {
    /// The key that makes a user unique on a benefit: the address, case-insensitive.
    pub fn email_key(email: &EmailAddress) -> String {
        email.to_string().to_lowercase()
    }

    /// The version a client sends back as `If-Match`: the time of the last change, in
    /// microseconds (what both databases keep).
    pub fn version(&self) -> i64 {
        self.updated_at.timestamp_micros()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeopleError {
    #[error("the benefit type takes no users")]
    NoUsers,
    #[error("the domain {domain} is not authorized")]
    DomainNotAuthorized { domain: String },
    #[error("{email} is already a user of this benefit")]
    DuplicateUser { email: String },
    #[error("the domain {domain} is already authorized")]
    DuplicateDomain { domain: String },
    #[error("{count} users still have an address in {domain}")]
    DomainInUse { domain: String, count: usize },
    #[error("the benefit has no access code")]
    NoAccessCode,
    #[error("the benefit has no downloads")]
    NoDownloads,
    #[error("the benefit has no product keys")]
    NoProductKeys,
    #[error("no software {id} for this benefit")]
    UnknownSoftware { id: String },
    #[error(transparent)]
    Metering(MeteringError),
}

impl Refusal for PeopleError {
    fn kind(&self) -> RefusalKind {
        match self {
            PeopleError::DuplicateUser { .. }
            | PeopleError::DuplicateDomain { .. }
            | PeopleError::DomainInUse { .. } => RefusalKind::Conflict,
            PeopleError::Metering(m) => m.kind(),
            _ => RefusalKind::Rule,
        }
    }

    fn context(&self) -> Option<serde_json::Value> {
        match self {
            PeopleError::DomainNotAuthorized { domain } => {
                Some(serde_json::json!({ "domain": domain }))
            }
            PeopleError::DomainInUse { count, .. } => Some(serde_json::json!({ "users": count })),
            _ => self
                .remaining()
                .map(|remaining| serde_json::json!({ "remaining": remaining })),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            PeopleError::NoUsers => "users_not_supported",
            PeopleError::DomainNotAuthorized { .. } => "domain_not_authorized",
            PeopleError::DuplicateUser { .. } => "user_exists",
            PeopleError::DuplicateDomain { .. } => "domain_exists",
            PeopleError::DomainInUse { .. } => "domain_in_use",
            PeopleError::NoAccessCode => "no_access_code",
            PeopleError::NoDownloads => "no_downloads",
            PeopleError::NoProductKeys => "no_product_keys",
            PeopleError::UnknownSoftware { .. } => "unknown_software",
            PeopleError::Metering(m) => m.code(),
        }
    }

    fn message(&self) -> Localized {
        match self {
            PeopleError::NoUsers => Localized::new(
                "This benefit type has no users: it is used through its own operations.",
                "Ce type d'avantage n'a pas d'utilisateurs : il s'utilise par ses propres opérations.",
            ),
            PeopleError::DomainNotAuthorized { domain } => Localized::new(
                format!("The e-mail domain {domain} is not authorized on this purchasing account: add it to the authorized domains first."),
                format!("Le domaine de messagerie {domain} n'est pas autorisé sur ce compte d'achats : ajoutez-le d'abord aux domaines autorisés."),
            ),
            PeopleError::DuplicateUser { email } => Localized::new(
                format!("{email} is already a user of this benefit."),
                format!("{email} est déjà utilisateur de cet avantage."),
            ),
            PeopleError::DuplicateDomain { domain } => Localized::new(
                format!("The domain {domain} is already authorized on this account."),
                format!("Le domaine {domain} est déjà autorisé sur ce compte."),
            ),
            PeopleError::DomainInUse { domain, count } => Localized::new(
                format!("{count} user(s) of this account's benefits have an address in {domain}: remove them first, or pass remove_users=true to remove them with the domain."),
                format!("{count} utilisateur(s) des avantages de ce compte ont une adresse dans {domain} : retirez-les d'abord, ou passez remove_users=true pour les retirer avec le domaine."),
            ),
            PeopleError::NoAccessCode => Localized::new(
                "This benefit has no access or program code to distribute.",
                "Cet avantage n'a pas de code d'accès ou de programme à distribuer.",
            ),
            PeopleError::NoDownloads => Localized::new(
                "This benefit has no downloadable software.",
                "Cet avantage n'a pas de logiciel à télécharger.",
            ),
            PeopleError::NoProductKeys => Localized::new(
                "This benefit has no product keys.",
                "Cet avantage n'a pas de clés de produit.",
            ),
            PeopleError::UnknownSoftware { id } => Localized::new(
                format!("No software {id} for this benefit (GET its downloads for the list)."),
                format!("Aucun logiciel {id} pour cet avantage (consultez ses téléchargements)."),
            ),
            PeopleError::Metering(m) => m.message(),
        }
    }
}

impl PeopleError {
    pub fn remaining(&self) -> Option<i64> {
        match self {
            PeopleError::Metering(m) => m.remaining(),
            _ => None,
        }
    }
}

fn refused<T>(e: PeopleError) -> Result<T, WriteError<PeopleError>> {
    Err(WriteError::Refused(e))
}

fn metering(e: WriteError<MeteringError>) -> WriteError<PeopleError> {
    match e {
        WriteError::Refused(m) => WriteError::Refused(PeopleError::Metering(m)),
        WriteError::Storage(s) => WriteError::Storage(s),
    }
}

/// Whether `email` may receive a benefit of this type given the account's domains (exact
/// domain, compared in ASCII form; `DomainName` is canonical).
pub fn check_domain(
    benefit_type: &BenefitType,
    email: &EmailAddress,
    domains: &[DomainName],
) -> Result<(), PeopleError> {
    if benefit_type.features.requires_authorized_domain && !domains.contains(email.domain()) {
        return Err(PeopleError::DomainNotAuthorized {
            domain: email.domain().as_str().to_owned(),
        });
    }
    Ok(())
}

fn user_change<'a>(
    kind: EntryKind,
    amount: i64,
    user: Uuid,
    actor: &'a Actor,
    at: DateTime<Utc>,
) -> Change<'a> {
    Change {
        kind,
        amount,
        actor,
        reference: Some(format!("user:{user}")),
        note: None,
        at,
    }
}

/// Adds a user: the type must take users, the benefit be usable, the domain authorized where
/// the type requires it; one unit is consumed where the type says so. Duplicates are the
/// store's to refuse (a unique key).
pub fn add_user(
    store: &mut impl LedgerStore,
    benefit_type: &BenefitType,
    benefit: &Benefit,
    user: &BenefitUser,
    domains: &[DomainName],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<LedgerEntry>, WriteError<PeopleError>> {
    if !benefit_type.features.takes_users {
        return refused(PeopleError::NoUsers);
    }
    check_usable(benefit, now).map_err(|e| WriteError::Refused(PeopleError::Metering(e)))?;
    check_domain(benefit_type, &user.email, domains).map_err(WriteError::Refused)?;
    if !benefit_type.features.user_consumes {
        return Ok(None);
    }
    store
        .record(
            benefit.id,
            user_change(EntryKind::Consumption, 1, user.id, actor, now),
        )
        .map(Some)
        .map_err(|e| metering(refusal_of(e, benefit.unit)))
}

/// Removes a user: the unit comes back where the type says so (e-learning), and stays used
/// otherwise (a distributed HUP licence).
pub fn remove_user(
    store: &mut impl LedgerStore,
    benefit_type: &BenefitType,
    benefit: &Benefit,
    user: &BenefitUser,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<LedgerEntry>, WriteError<PeopleError>> {
    let f = benefit_type.features;
    if !(f.user_consumes && f.removal_releases) || benefit.figures.is_none() {
        return Ok(None);
    }
    store
        .record(
            benefit.id,
            user_change(EntryKind::Release, -1, user.id, actor, now),
        )
        .map(Some)
        .map_err(|e| metering(refusal_of(e, benefit.unit)))
}

/// A domain can be removed when none of the account's users has an address in it, or when
/// the request says to remove them too.
pub fn check_domain_removal(
    domain: &DomainName,
    users_in_domain: usize,
    remove_users: bool,
) -> Result<(), PeopleError> {
    if users_in_domain > 0 && !remove_users {
        return Err(PeopleError::DomainInUse {
            domain: domain.as_str().to_owned(),
            count: users_in_domain,
        });
    }
    Ok(())
}

/// Records one download of `software`: consumes one unit of a usable software benefit.
pub fn record_download(
    store: &mut impl LedgerStore,
    benefit_type: &BenefitType,
    benefit: &Benefit,
    software: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Software, LedgerEntry), WriteError<PeopleError>> {
    if !benefit_type.features.has_downloads {
        return refused(PeopleError::NoDownloads);
    }
    let Some(package) = benefit_type.software.iter().find(|s| s.id == software) else {
        return refused(PeopleError::UnknownSoftware {
            id: software.to_owned(),
        });
    };
    check_usable(benefit, now).map_err(|e| WriteError::Refused(PeopleError::Metering(e)))?;
    let entry = store
        .record(
            benefit.id,
            Change {
                kind: EntryKind::Consumption,
                amount: 1,
                actor,
                reference: Some(format!("download:{}", package.id)),
                note: None,
                at: now,
            },
        )
        .map_err(|e| metering(refusal_of(e, benefit.unit)))?;
    Ok((package.clone(), entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::catalog::builtin_catalog;
    use crate::ids::AccountId;
    use crate::ledger::Figures;
    use crate::metering::MemoryLedger;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn setup(code: &str, quantity: i64) -> (BenefitType, Benefit, MemoryLedger) {
        let t = builtin_catalog().find(code).unwrap().clone();
        let b = Benefit {
            id: BenefitId(Uuid::new_v4()),
            account_id: AccountId(Uuid::nil()),
            type_code: t.code.clone(),
            unit: t.unit,
            figures: Some(Figures::default()),
            valid_from: now() - Duration::days(1),
            expires_at: now() + Duration::days(100),
            access_code: None,
            calculation_inputs: vec![],
            created_at: now(),
            version: 1,
        };
        let mut ledger = MemoryLedger::default();
        ledger.grant(b.id, quantity);
        (t, b, ledger)
    }

    fn user(email: &str) -> BenefitUser {
        BenefitUser {
            id: Uuid::new_v4(),
            benefit_id: BenefitId(Uuid::nil()),
            email: EmailAddress::parse(email).unwrap(),
            display_name: Name::parse("Someone").unwrap(),
            created_at: now(),
            updated_at: now(),
        }
    }

    fn actor() -> Actor {
        Actor {
            subject: "ana".into(),
            role: Role::CustomerAdmin,
            partner: None,
        }
    }

    #[test]
    fn e_learning_users_need_an_authorized_domain_and_come_back_on_removal() {
        let (t, b, mut ledger) = setup("e_learning", 2);
        let domains = vec![DomainName::parse("Contoso.COM").unwrap()];
        let refused = add_user(
            &mut ledger,
            &t,
            &b,
            &user("a@fabrikam.com"),
            &domains,
            &actor(),
            now(),
        );
        assert!(
            matches!(refused, Err(WriteError::Refused(PeopleError::DomainNotAuthorized { ref domain })) if domain == "fabrikam.com")
        );
        let a = user("A.Person@CONTOSO.com");
        assert!(add_user(&mut ledger, &t, &b, &a, &domains, &actor(), now())
            .unwrap()
            .is_some());
        add_user(
            &mut ledger,
            &t,
            &b,
            &user("b@contoso.com"),
            &domains,
            &actor(),
            now(),
        )
        .unwrap();
        let full = add_user(
            &mut ledger,
            &t,
            &b,
            &user("c@contoso.com"),
            &domains,
            &actor(),
            now(),
        );
        assert!(matches!(full, Err(WriteError::Refused(ref e)) if e.remaining() == Some(0)));
        remove_user(&mut ledger, &t, &b, &a, &actor(), now()).unwrap();
        assert_eq!(ledger.figures[&b.id].used, 1);
        assert!(ledger.agrees(b.id));
    }

    #[test]
    fn hup_licences_stay_used_and_support_contacts_are_free() {
        let (t, b, mut ledger) = setup("home_use_program", 5);
        let domains = vec![DomainName::parse("contoso.com").unwrap()];
        let u = user("a@contoso.com");
        add_user(&mut ledger, &t, &b, &u, &domains, &actor(), now()).unwrap();
        assert!(remove_user(&mut ledger, &t, &b, &u, &actor(), now())
            .unwrap()
            .is_none());
        assert_eq!(ledger.figures[&b.id].used, 1);
        let (t, b, mut ledger) = setup("problem_resolution_phone", 5);
        // No domain needed, nothing consumed.
        assert!(add_user(
            &mut ledger,
            &t,
            &b,
            &user("x@anywhere.org"),
            &[],
            &actor(),
            now()
        )
        .unwrap()
        .is_none());
        assert_eq!(ledger.figures[&b.id].used, 0);
        let (t, b, mut ledger) = setup("training_vouchers", 5);
        assert!(matches!(
            add_user(
                &mut ledger,
                &t,
                &b,
                &user("x@contoso.com"),
                &domains,
                &actor(),
                now()
            ),
            Err(WriteError::Refused(PeopleError::NoUsers))
        ));
    }

    #[test]
    fn idn_domains_match_in_ascii_form() {
        let (t, _, _) = setup("e_learning", 1);
        let domains = vec![DomainName::parse("bücher.example").unwrap()];
        assert!(check_domain(
            &t,
            &EmailAddress::parse("x@xn--bcher-kva.example").unwrap(),
            &domains
        )
        .is_ok());
        assert!(check_domain(
            &t,
            &EmailAddress::parse("x@BÜCHER.example").unwrap(),
            &domains
        )
        .is_ok());
    }

    #[test]
    fn domains_with_users_are_kept_unless_asked() {
        let d = DomainName::parse("contoso.com").unwrap();
        assert!(check_domain_removal(&d, 0, false).is_ok());
        assert!(matches!(
            check_domain_removal(&d, 2, false),
            Err(PeopleError::DomainInUse { count: 2, .. })
        ));
        assert!(check_domain_removal(&d, 2, true).is_ok());
    }

    #[test]
    fn downloads_consume_one_until_none_remain() {
        let (t, b, mut ledger) = setup("windows_thin_pc", 1);
        let (sw, _) = record_download(&mut ledger, &t, &b, "wtp-x86-en", &actor(), now()).unwrap();
        assert!(sw.keyed);
        let none = record_download(&mut ledger, &t, &b, "wtp-x86-en", &actor(), now());
        assert!(matches!(none, Err(WriteError::Refused(ref e)) if e.remaining() == Some(0)));
        assert!(matches!(
            record_download(&mut ledger, &t, &b, "nope", &actor(), now()),
            Err(WriteError::Refused(PeopleError::UnknownSoftware { .. }))
        ));
        for code in [
            "global_service_monitor",
            "multi_language_pack",
            "windows_thin_pc",
        ] {
            let catalog = builtin_catalog();
            let t = catalog.find(code).unwrap();
            assert!(t.features.has_downloads && !t.software.is_empty());
        }
    }
}
