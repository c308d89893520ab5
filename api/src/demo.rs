//! Demo data (PRODUCT.md §10): a realistic customer, so Swagger UI shows real answers at once.
//! The ids are fixed, so the tokens `serve` prints always point at it.

use crate::auth::{KeyError, TokenIssuer};
use chrono::{DateTime, Duration, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Actor, Principal, PrincipalKind, Role, Scope};
use domain::benefit::{CalculationInput, Grant};
use domain::catalog::Catalog;
use domain::entities::{Organization, Partner, PurchasingAccount};
use domain::error::StorageError;
use domain::ids::{AccountId, BenefitId, OrganizationId, PartnerId};
use domain::permission::{Permission, PermissionError, PermissionStatus};
use domain::ports::{BenefitRepository, DirectoryRepository, PermissionRepository, WriteError};
use domain::values::{EmailAddress, Name, Quantity, Reference};
use domain::Language;
use persistence::Database;
use uuid::Uuid;

pub const DEMO_ORG: OrganizationId =
    OrganizationId(Uuid::from_u128(0x6d3c_1a52_0b7e_4c9d_8e21_c017_505a_1101));
pub const OTHER_ORG: OrganizationId =
    OrganizationId(Uuid::from_u128(0x6d3c_1a52_0b7e_4c9d_8e21_c017_505a_1102));
pub const DEMO_ACCOUNT: AccountId =
    AccountId(Uuid::from_u128(0x4a7b_2c1d_5e6f_4a8b_9c0d_1e2f_3a4b_5c01));
pub const SECOND_ACCOUNT: AccountId =
    AccountId(Uuid::from_u128(0x4a7b_2c1d_5e6f_4a8b_9c0d_1e2f_3a4b_5c02));
pub const OTHER_ACCOUNT: AccountId =
    AccountId(Uuid::from_u128(0x4a7b_2c1d_5e6f_4a8b_9c0d_1e2f_3a4b_5c03));
pub const DEMO_PARTNER: PartnerId =
    PartnerId(Uuid::from_u128(0x9a8b_7c6d_5e4f_4a3b_8c1d_0e9f_8a7b_6c01));
pub const PENDING_PARTNER: PartnerId =
    PartnerId(Uuid::from_u128(0x9a8b_7c6d_5e4f_4a3b_8c1d_0e9f_8a7b_6c02));

/// The ids of what the demo creates are fixed, so the OpenAPI document's examples name real
/// demo resources and Swagger UI's "Try it out" works at once.
const fn demo_id(kind: u128, n: u128) -> Uuid {
    Uuid::from_u128(0x5a00_0000_0000_4000_8000_0000_0000_0000 | (kind << 96) | n)
}
const BENEFITS: u128 = 0xb;
const VOUCHERS: u128 = 0xc;
const USERS: u128 = 0xd;
const PERMISSIONS: u128 = 0xe;
/// Problem Resolution Services (phone) of the demo account: metered, 20 incidents.
pub const DEMO_BENEFIT: BenefitId = BenefitId(demo_id(BENEFITS, 0));
/// Training Vouchers of the demo account (its vouchers and conversions).
pub const DEMO_TRAINING_BENEFIT: BenefitId = BenefitId(demo_id(BENEFITS, 7));
/// The Multi-Language Pack of the demo account: software to download.
pub const DEMO_SOFTWARE_BENEFIT: BenefitId = BenefitId(demo_id(BENEFITS, 5));
/// An assigned (not yet redeemed) training voucher of the demo account.
pub const DEMO_VOUCHER: Uuid = demo_id(VOUCHERS, 1);
/// A user of a demo benefit.
pub const DEMO_USER: Uuid = demo_id(USERS, 0);
/// Fabrikam's approved permission on the demo organization.
pub const DEMO_PERMISSION: Uuid = demo_id(PERMISSIONS, 0);
/// Northwind's pending request.
pub const PENDING_PERMISSION: Uuid = demo_id(PERMISSIONS, 1);
/// An authorized e-mail domain of the demo account.
pub const DEMO_DOMAIN: &str = "contoso.com";

pub const ADMIN_SUBJECT: &str = "ana.lopez@contoso.com";
pub const PARTNER_SUBJECT: &str = "integration@fabrikam.com";
pub const OPERATOR_SUBJECT: &str = "operator@licensing.example";

fn name(s: &str) -> Name {
    Name::parse(s).expect("demo names are valid")
}

fn reference(s: &str) -> Option<Reference> {
    Some(Reference::parse(s).expect("demo references are valid"))
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("demo e-mails are valid")
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the demo grant of {code} was refused: {reason}")]
    Grant { code: String, reason: String },
}

/// One grant of the demo: type, quantity, how long ago it started and how long it lasts.
struct DemoGrant {
    account: AccountId,
    code: &'static str,
    quantity: Option<i64>,
    started_days_ago: i64,
    lasts_days: i64,
    inputs: &'static [(&'static str, i64)],
}

/// Fills an empty database with the demo. Returns `false` (and changes nothing) when the
/// database already holds organizations.
pub fn seed(db: &Database, catalog: &Catalog, now: DateTime<Utc>) -> Result<bool, SeedError> {
    if !db.is_empty()? {
        return Ok(false);
    }
    let ago = |days: i64| now - Duration::days(days);
    db.insert_organization(&Organization {
        id: DEMO_ORG,
        name: name("Contoso Ltd"),
        contact_emails: vec![email("it-admins@contoso.com"), email(ADMIN_SUBJECT)],
        created_at: ago(400),
        preferred_language: Language::En,
    })?;
    db.insert_organization(&Organization {
        id: OTHER_ORG,
        name: name("Woodgrove Bank"),
        contact_emails: vec![email("licensing@woodgrovebank.com")],
        created_at: ago(300),
        preferred_language: Language::En,
    })?;
    for (id, org, label, agreement, sa_id, program) in [
        (
            DEMO_ACCOUNT,
            DEMO_ORG,
            "Contoso EMEA",
            "EA-7781-2291",
            "SA-0042-7781",
            "HUP-CONTOSO-EMEA",
        ),
        (
            SECOND_ACCOUNT,
            DEMO_ORG,
            "Contoso Americas",
            "EA-7781-3310",
            "SA-0042-9120",
            "HUP-CONTOSO-AM",
        ),
        (
            OTHER_ACCOUNT,
            OTHER_ORG,
            "Woodgrove Retail Banking",
            "EA-1200-0007",
            "SA-7700-0001",
            "HUP-WOODGROVE",
        ),
    ] {
        db.insert_account(&PurchasingAccount {
            id,
            organization_id: org,
            name: name(label),
            agreement_number: reference(agreement),
            sa_id: reference(sa_id),
            program_code: reference(program),
            created_at: ago(390),
        })?;
    }
    let grants = [
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "problem_resolution_phone",
            quantity: Some(20),
            started_days_ago: 120,
            lasts_days: 365 * 3,
            inputs: &[("Qualifying server licences with SA", 2_000)],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "problem_resolution_web",
            quantity: Some(12),
            started_days_ago: 120,
            lasts_days: 365 * 3,
            inputs: &[("Qualifying server licences with SA", 2_000)],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "e_learning",
            quantity: Some(250),
            started_days_ago: 120,
            lasts_days: 365,
            inputs: &[("Qualifying desktop licences with SA", 1_250)],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "home_use_program",
            quantity: Some(1_250),
            started_days_ago: 120,
            lasts_days: 365 * 3,
            inputs: &[("Qualifying Office licences with SA", 1_250)],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "dynamics_customersource",
            quantity: None,
            started_days_ago: 120,
            lasts_days: 365 * 3,
            inputs: &[],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "multi_language_pack",
            quantity: Some(40),
            started_days_ago: 120,
            lasts_days: 365 * 3,
            inputs: &[("Qualifying Office licences with SA", 1_250)],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "planning_services",
            quantity: Some(10),
            started_days_ago: 120,
            lasts_days: 365 * 2,
            inputs: &[("Qualifying SA spend (thousands of USD)", 850)],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "training_vouchers",
            quantity: Some(45),
            started_days_ago: 120,
            lasts_days: 365 * 2,
            inputs: &[("Qualifying desktop licences with SA", 1_250)],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "windows_thin_pc",
            quantity: Some(100),
            started_days_ago: 400,
            lasts_days: 365,
            inputs: &[("Windows desktop licences with SA", 900)],
        },
        DemoGrant {
            account: SECOND_ACCOUNT,
            code: "problem_resolution_phone",
            quantity: Some(6),
            started_days_ago: 60,
            lasts_days: 365 * 3,
            inputs: &[("Qualifying server licences with SA", 600)],
        },
        DemoGrant {
            account: SECOND_ACCOUNT,
            code: "e_learning",
            quantity: Some(80),
            started_days_ago: 60,
            lasts_days: 365,
            inputs: &[("Qualifying desktop licences with SA", 400)],
        },
        DemoGrant {
            account: OTHER_ACCOUNT,
            code: "training_vouchers",
            quantity: Some(15),
            started_days_ago: 30,
            lasts_days: 365,
            inputs: &[("Qualifying desktop licences with SA", 300)],
        },
    ];
    let operator = Actor {
        subject: OPERATOR_SUBJECT.to_owned(),
        role: Role::Operator,
        partner: None,
    };
    for (n, g) in grants.into_iter().enumerate() {
        let benefit_type = catalog.find(g.code).ok_or_else(|| SeedError::Grant {
            code: g.code.to_owned(),
            reason: "not in the catalog".to_owned(),
        })?;
        let granted_at = ago(g.started_days_ago);
        let quantity = g
            .quantity
            .map(|q| Quantity::new(q).expect("demo quantities are valid"));
        let inputs = g
            .inputs
            .iter()
            .map(|(label, value)| {
                CalculationInput::new(label, *value).expect("demo inputs are valid")
            })
            .collect();
        let grant = Grant::new(
            benefit_type,
            quantity,
            granted_at,
            granted_at + Duration::days(g.lasts_days),
            inputs,
            granted_at,
        )
        .map_err(|e| SeedError::Grant {
            code: g.code.to_owned(),
            reason: e.to_string(),
        })?;
        let access_code = benefit_type
            .features
            .has_access_code
            .then(|| "CTSO7K2M9Q".to_owned());
        db.grant(
            g.account,
            BenefitId(demo_id(BENEFITS, n as u128)),
            &grant,
            access_code,
            &operator,
            granted_at,
        )
        .map_err(|e| match e {
            WriteError::Refused(r) => SeedError::Grant {
                code: g.code.to_owned(),
                reason: r.to_string(),
            },
            WriteError::Storage(s) => SeedError::Storage(s),
        })?;
    }
    seed_training(db, &ago, now)?;
    seed_people(db, catalog, &ago)?;
    for (id, partner_name, contact) in [
        (
            DEMO_PARTNER,
            "Fabrikam Licensing Services",
            "licensing@fabrikam.com",
        ),
        (
            PENDING_PARTNER,
            "Northwind Advisors",
            "partners@northwindadvisors.com",
        ),
    ] {
        db.insert_partner(&Partner {
            id,
            name: name(partner_name),
            contact_email: Some(email(contact)),
            created_at: ago(380),
            preferred_language: Language::En,
        })?;
    }
    let admin = Principal {
        subject: ADMIN_SUBJECT.to_owned(),
        kind: PrincipalKind::CustomerAdmin(DEMO_ORG),
    };
    let refused = |e: PermissionError| SeedError::Grant {
        code: "partner permission".into(),
        reason: e.to_string(),
    };
    // Fabrikam asked 100 days ago and was approved two days later.
    let asked = Permission::request(
        DEMO_PERMISSION,
        DEMO_PARTNER,
        DEMO_ORG,
        None,
        Some(now + Duration::days(365)),
        ago(100),
    )
    .map_err(refused)?;
    let approved = asked
        .decide(&admin, PermissionStatus::Approved, ago(98))
        .map_err(refused)?;
    db.insert_permission(
        &approved.permission,
        &[asked.requested_event(PARTNER_SUBJECT), approved.event],
    )?;
    // Northwind asked three days ago; the request waits for an answer.
    let pending = Permission::request(
        PENDING_PERMISSION,
        PENDING_PARTNER,
        DEMO_ORG,
        Some(vec![
            Scope::ManageUsers,
            Scope::ManageVouchers,
            Scope::ConvertBenefits,
        ]),
        None,
        ago(3),
    )
    .map_err(refused)?;
    db.insert_permission(
        &pending,
        &[pending.requested_event("requests@northwindadvisors.com")],
    )?;
    Ok(true)
}

/// The demo tokens: one per role.
pub struct DemoTokens {
    pub customer_admin: String,
    pub partner: String,
    pub operator: String,
}

pub fn tokens(
    issuer: &TokenIssuer,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<DemoTokens, KeyError> {
    let mint = |subject: &str, kind: PrincipalKind| {
        issuer.mint(
            &Principal {
                subject: subject.to_owned(),
                kind,
            },
            now,
            ttl,
        )
    };
    Ok(DemoTokens {
        customer_admin: mint(ADMIN_SUBJECT, PrincipalKind::CustomerAdmin(DEMO_ORG))?,
        partner: mint(PARTNER_SUBJECT, PrincipalKind::Partner(DEMO_PARTNER))?,
        operator: mint(OPERATOR_SUBJECT, PrincipalKind::Operator)?,
    })
}

fn refused(what: &str, reason: impl ToString) -> SeedError {
    SeedError::Grant {
        code: what.to_owned(),
        reason: reason.to_string(),
    }
}

/// Vouchers on the demo account's Training Vouchers (one redeemed) and a conversion of
/// 6 training days into 2 planning days.
fn seed_training(
    db: &Database,
    ago: &dyn Fn(i64) -> DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    use domain::conversion::{ConversionRecord, Direction, Position, TRAINING_TO_PLANNING};
    use domain::voucher::{self, NewVoucher, VoucherDays};
    let admin = Actor {
        subject: ADMIN_SUBJECT.to_owned(),
        role: Role::CustomerAdmin,
        partner: None,
    };
    db.write(|tx| {
        let benefits = tx.account_benefits(DEMO_ACCOUNT)?;
        let training = benefits
            .iter()
            .find(|b| b.type_code.as_str() == "training_vouchers")
            .ok_or_else(|| refused("training_vouchers", "not granted"))?
            .clone();
        let holders = [
            (
                "marie.dubois@contoso.com",
                "Marie Dubois",
                "AZ-104 Microsoft Azure Administrator",
                3,
                40,
            ),
            (
                "li.wei@contoso.com",
                "Li Wei",
                "MS-102 Microsoft 365 Administrator",
                5,
                25,
            ),
            (
                "sam.okafor@contoso.com",
                "Sam Okafor",
                "SC-300 Identity and Access Administrator",
                2,
                10,
            ),
        ];
        let mut current = training;
        for (i, (mail, name_, course, days, days_ago)) in holders.into_iter().enumerate() {
            let new = NewVoucher {
                holder_email: email(mail),
                holder_name: name(name_),
                course: name(course),
                days: VoucherDays::new(days).map_err(|_| refused("voucher", "days"))?,
            };
            let (v, entry) = voucher::assign(
                tx,
                &current,
                demo_id(VOUCHERS, i as u128),
                new,
                &admin,
                ago(days_ago),
            )
            .map_err(|e| refused("voucher", format!("{e:?}")))?;
            current.figures = entry.after;
            let v = if i == 0 {
                voucher::redeem(&v, ago(5)).map_err(|e| refused("voucher", e))?
            } else {
                v
            };
            tx.insert_voucher(&v)?;
            tx.audit(&crate::audit::event(
                &admin,
                Some(DEMO_ORG),
                AuditAction::VoucherAssigned,
                (TargetKind::Voucher, v.id),
                Some(domain::audit::details::voucher_assigned(
                    v.days,
                    &v.holder_email,
                )),
                v.assigned_at,
            ))?;
        }
        let rule = TRAINING_TO_PLANNING;
        let benefits = tx.account_benefits(DEMO_ACCOUNT)?;
        let position = Position::of(&rule, &benefits, 0, now);
        let id = Uuid::new_v4();
        let at = ago(7);
        rule.convert(
            tx,
            Direction::Forward,
            &position,
            2,
            (&admin, &format!("conversion:{id}")),
            at,
        )
        .map_err(|e| refused("conversion", format!("{e:?}")))?;
        let (source, target) = match (position.source, position.target) {
            (Some(s), Some(t)) => (s.id, t.id),
            _ => return Err(refused("conversion", "benefits missing")),
        };
        tx.insert_conversion(&ConversionRecord {
            id,
            account_id: DEMO_ACCOUNT,
            rule,
            direction: Direction::Forward,
            source_benefit_id: source,
            target_benefit_id: target,
            source_days: 6,
            target_days: 2,
            actor: admin.clone(),
            at,
        })?;
        tx.audit(&crate::audit::event(
            &admin,
            Some(DEMO_ORG),
            AuditAction::ConversionMade,
            (TargetKind::Conversion, id),
            Some(domain::audit::details::conversion(true, 6, 2)),
            at,
        ))?;
        Ok(())
    })
}

/// Authorized domains on both Contoso accounts and a few users on the benefits that take
/// them (which consumes e-learning and HUP units through the ledger).
fn seed_people(
    db: &Database,
    catalog: &Catalog,
    ago: &dyn Fn(i64) -> DateTime<Utc>,
) -> Result<(), SeedError> {
    use domain::people::{self, BenefitUser};
    use domain::values::DomainName;
    let admin = Actor {
        subject: ADMIN_SUBJECT.to_owned(),
        role: Role::CustomerAdmin,
        partner: None,
    };
    let people = [
        ("ana.lopez@contoso.com", "Ana López"),
        ("li.wei@contoso.com", "Li Wei"),
        ("marie.dubois@contoso.fr", "Marie Dubois"),
    ];
    db.write(|tx| {
        let mut users: u128 = 0;
        for account in [DEMO_ACCOUNT, SECOND_ACCOUNT] {
            for d in ["contoso.com", "contoso.fr"] {
                let domain = DomainName::parse(d).map_err(|_| refused("domain", d))?;
                tx.add_domain(account, &domain, ago(90))
                    .map_err(|e| refused("domain", format!("{e:?}")))?;
            }
            let domains = tx.domains(account)?;
            for benefit in tx.account_benefits(account)? {
                let Some(benefit_type) = catalog.get(&benefit.type_code) else {
                    continue;
                };
                if !benefit_type.features.takes_users
                    || benefit.status(ago(0)) != domain::benefit::Status::Active
                {
                    continue;
                }
                for (i, (mail, display)) in people.iter().enumerate() {
                    let at = ago(60 - i as i64);
                    let user = BenefitUser {
                        id: demo_id(USERS, users),
                        benefit_id: benefit.id,
                        email: email(mail),
                        display_name: name(display),
                        created_at: at,
                        updated_at: at,
                    };
                    users += 1;
                    tx.insert_user(&user)
                        .map_err(|e| refused("user", format!("{e:?}")))?;
                    people::add_user(tx, (benefit_type, &benefit), &user, &domains, &admin, at)
                        .map_err(|e| refused("user", format!("{e:?}")))?;
                    tx.audit(&crate::audit::event(
                        &admin,
                        Some(DEMO_ORG),
                        AuditAction::UserAdded,
                        (TargetKind::User, user.id),
                        Some(domain::audit::details::user_on(
                            &user.email,
                            &benefit_type.name,
                        )),
                        at,
                    ))?;
                }
            }
        }
        Ok(())
    })
}
