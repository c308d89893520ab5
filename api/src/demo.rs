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
use domain::error::WriteError;
use domain::ids::{AccountId, BenefitId, OrganizationId, PartnerId};
use domain::permission::{Permission, PermissionError, PermissionStatus};
use domain::ports::{BenefitRepository, DirectoryRepository, PermissionRepository};
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
const NOTIFICATIONS: u128 = 0xa;
const WEBHOOKS: u128 = 0xf;
/// Fabrikam's webhook (to an address that does not resolve: its deliveries show failures).
pub const DEMO_WEBHOOK: Uuid = demo_id(WEBHOOKS, 0);
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
    /// Each input's label in English and French, and its value.
    inputs: &'static [(&'static str, &'static str, i64)],
}

/// Fills an empty database with the demo. Returns `false` (and changes nothing) when the
/// database already holds organizations.
pub fn seed(
    db: &Database,
    catalog: &Catalog,
    webhooks: &crate::webhooks::Webhooks,
    now: DateTime<Utc>,
) -> Result<bool, SeedError> {
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
            inputs: &[(
                "Qualifying server licences with SA",
                "Licences serveur éligibles avec SA",
                2_000,
            )],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "problem_resolution_web",
            quantity: Some(12),
            started_days_ago: 120,
            lasts_days: 365 * 3,
            inputs: &[(
                "Qualifying server licences with SA",
                "Licences serveur éligibles avec SA",
                2_000,
            )],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "e_learning",
            quantity: Some(250),
            started_days_ago: 120,
            lasts_days: 365,
            inputs: &[(
                "Qualifying desktop licences with SA",
                "Licences de postes de travail éligibles avec SA",
                1_250,
            )],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "home_use_program",
            quantity: Some(1_250),
            started_days_ago: 120,
            lasts_days: 365 * 3,
            inputs: &[(
                "Qualifying Office licences with SA",
                "Licences Office éligibles avec SA",
                1_250,
            )],
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
            inputs: &[(
                "Qualifying Office licences with SA",
                "Licences Office éligibles avec SA",
                1_250,
            )],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "planning_services",
            quantity: Some(10),
            started_days_ago: 120,
            lasts_days: 365 * 2,
            inputs: &[(
                "Qualifying SA spend (thousands of USD)",
                "Dépense SA éligible (milliers d'USD)",
                850,
            )],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "training_vouchers",
            quantity: Some(45),
            started_days_ago: 200,
            lasts_days: 365 * 2,
            inputs: &[(
                "Qualifying desktop licences with SA",
                "Licences de postes de travail éligibles avec SA",
                1_250,
            )],
        },
        DemoGrant {
            account: DEMO_ACCOUNT,
            code: "windows_thin_pc",
            quantity: Some(100),
            started_days_ago: 400,
            lasts_days: 365,
            inputs: &[(
                "Windows desktop licences with SA",
                "Licences de postes Windows avec SA",
                900,
            )],
        },
        DemoGrant {
            account: SECOND_ACCOUNT,
            code: "problem_resolution_phone",
            quantity: Some(6),
            // Expires in 15 days: "expiring soon".
            started_days_ago: 350,
            lasts_days: 365,
            inputs: &[(
                "Qualifying server licences with SA",
                "Licences serveur éligibles avec SA",
                600,
            )],
        },
        DemoGrant {
            account: SECOND_ACCOUNT,
            code: "e_learning",
            // The three demo users take every seat: "low remaining".
            quantity: Some(3),
            started_days_ago: 60,
            lasts_days: 365,
            inputs: &[(
                "Qualifying desktop licences with SA",
                "Licences de postes de travail éligibles avec SA",
                400,
            )],
        },
        DemoGrant {
            account: OTHER_ACCOUNT,
            code: "training_vouchers",
            quantity: Some(15),
            started_days_ago: 30,
            lasts_days: 365,
            inputs: &[(
                "Qualifying desktop licences with SA",
                "Licences de postes de travail éligibles avec SA",
                300,
            )],
        },
        // Starts in two weeks: "not yet valid".
        DemoGrant {
            account: SECOND_ACCOUNT,
            code: "planning_services",
            quantity: Some(3),
            started_days_ago: -14,
            lasts_days: 365,
            inputs: &[(
                "Qualifying SA spend (thousands of USD)",
                "Dépense SA éligible (milliers d'USD)",
                250,
            )],
        },
        // Woodgrove has authorized no e-mail domain yet: "domain required".
        DemoGrant {
            account: OTHER_ACCOUNT,
            code: "e_learning",
            quantity: Some(50),
            started_days_ago: 30,
            lasts_days: 365,
            inputs: &[(
                "Qualifying desktop licences with SA",
                "Licences de postes de travail éligibles avec SA",
                300,
            )],
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
            .map(|(en, fr, value)| CalculationInput::new(name(en), name(fr), *value))
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
    seed_activity(db, catalog, &ago, now)?;
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
    // Fabrikam hears of Contoso's changes at an address of its own; every later event of
    // the demo is a delivery in its history.
    let webhook = domain::events::Webhook {
        id: DEMO_WEBHOOK,
        partner_id: DEMO_PARTNER,
        url: domain::events::WebhookUrl::stored(
            "https://hooks.fabrikam.example/sa-benefits".to_owned(),
        ),
        filter: domain::events::EventFilter::all(),
        created_at: ago(97),
    };
    let (salt, _, check) = webhooks.new_secret(webhook.id);
    db.write(|tx| tx.insert_webhook(&webhook, &salt, &check))?;
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
    // Northwind's first request, two months ago, was declined.
    let asked = Permission::request(
        demo_id(PERMISSIONS, 2),
        PENDING_PARTNER,
        DEMO_ORG,
        Some(vec![Scope::ManageDomains]),
        None,
        ago(62),
    )
    .map_err(refused)?;
    let declined = asked
        .decide(&admin, PermissionStatus::Declined, ago(60))
        .map_err(refused)?;
    db.insert_permission(
        &declined.permission,
        &[
            asked.requested_event("requests@northwindadvisors.com"),
            declined.event,
        ],
    )?;
    // Tailspin managed the organization's vouchers for a while, until it was removed.
    db.insert_partner(&Partner {
        id: FORMER_PARTNER,
        name: name("Tailspin Licensing"),
        contact_email: Some(email("licensing@tailspin.example")),
        created_at: ago(380),
        preferred_language: Language::Fr,
    })?;
    let asked = Permission::request(
        demo_id(PERMISSIONS, 3),
        FORMER_PARTNER,
        DEMO_ORG,
        Some(vec![Scope::ManageVouchers]),
        None,
        ago(300),
    )
    .map_err(refused)?;
    let approved = asked
        .decide(&admin, PermissionStatus::Approved, ago(299))
        .map_err(refused)?;
    let removed = approved
        .permission
        .decide(&admin, PermissionStatus::Removed, ago(50))
        .map_err(refused)?;
    db.insert_permission(
        &removed.permission,
        &[
            asked.requested_event("ops@tailspin.example"),
            approved.event,
            removed.event,
        ],
    )?;
    seed_outbox(db, &ago)?;
    Ok(true)
}

/// The e-mails of the permission moves, as the outbox keeps them: Fabrikam's approval sent,
/// Northwind's pending request waiting to be sent, Tailspin's removal given up on after its
/// mail server refused it.
fn seed_outbox(db: &Database, ago: &dyn Fn(i64) -> DateTime<Utc>) -> Result<(), SeedError> {
    use domain::notification::{Decision, DeliveryStatus, Message, Notification};
    let organization = "Contoso Ltd";
    let approved = Message::PermissionDecided {
        organization,
        decision: Decision::Approved,
    };
    let asked = Message::PermissionRequested {
        partner: "Northwind Advisors",
        organization,
        scopes: &[
            Scope::ManageUsers,
            Scope::ManageVouchers,
            Scope::ConvertBenefits,
        ],
    };
    let removed = Message::PermissionDecided {
        organization,
        decision: Decision::Removed,
    };
    let mut sent = Notification::new(
        demo_id(NOTIFICATIONS, 0),
        DEMO_ORG,
        Some(email("licensing@fabrikam.com")),
        &approved,
        Language::En,
        ago(98),
    );
    sent.status = DeliveryStatus::Sent;
    sent.attempts = 1;
    sent.sent_at = Some(ago(98));
    let waiting = Notification::new(
        demo_id(NOTIFICATIONS, 1),
        DEMO_ORG,
        Some(email("it-admins@contoso.com")),
        &asked,
        Language::En,
        ago(3),
    );
    let mut failed = Notification::new(
        demo_id(NOTIFICATIONS, 2),
        DEMO_ORG,
        Some(email("licensing@tailspin.example")),
        &removed,
        Language::Fr,
        ago(50),
    );
    failed.status = DeliveryStatus::Failed;
    failed.attempts = 8;
    failed.last_error = Some("550 5.1.1 mailbox unavailable".to_owned());
    db.write(|tx| {
        for n in [&sent, &waiting, &failed] {
            tx.notify(n)?;
        }
        Ok(())
    })
}

/// A partner whose permission the demo organization removed.
pub const FORMER_PARTNER: PartnerId = PartnerId(demo_id(0xf, 2));

/// What the portal has seen happen: incidents opened, a download recorded, an adjustment, a
/// revoked voucher, a conversion undone in part — each through the domain's rules and the
/// ledger, each in the audit log.
fn seed_activity(
    db: &Database,
    catalog: &Catalog,
    ago: &dyn Fn(i64) -> DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    use domain::audit::details;
    use domain::conversion::Direction;
    use domain::ledger::EntryKind;
    use domain::values::Reason;
    use domain::{metering, people, voucher};
    let admin = customer_admin();
    let operator = Actor {
        subject: OPERATOR_SUBJECT.to_owned(),
        role: Role::Operator,
        partner: None,
    };
    let failed = |what: &str| {
        let what = what.to_owned();
        move |e: &dyn std::fmt::Debug| refused(&what, format!("{e:?}"))
    };
    db.write(|tx| {
        let benefits = tx.account_benefits(DEMO_ACCOUNT)?;
        let held = |code: &str| {
            benefits
                .iter()
                .find(|b| b.type_code.as_str() == code)
                .cloned()
                .ok_or_else(|| refused(code, "not granted"))
        };
        let audit = |tx: &mut persistence::Tx<'_>,
                     action: AuditAction,
                     benefit: BenefitId,
                     detail: domain::Localized,
                     actor: &Actor,
                     at: DateTime<Utc>| {
            tx.audit(&crate::audit::event(
                actor,
                Some(DEMO_ORG),
                action,
                TargetKind::Benefit.target(benefit.as_uuid()),
                Some(detail),
                at,
            ))
        };
        // Three incidents opened on the phone support.
        let phone = held("problem_resolution_phone")?;
        for (n, days) in [40, 25, 9].into_iter().enumerate() {
            let one = Quantity::new(1).expect("1 is a quantity");
            let reference = format!("INC-DEMO-{:04}", n + 1);
            metering::consume(tx, &phone, one, &admin, Some(reference), None, ago(days))
                .map_err(|e| failed("incident")(&e))?;
            let detail = details::ledger_change(EntryKind::Consumption, 1, phone.unit);
            audit(
                tx,
                AuditAction::BenefitConsumed,
                phone.id,
                detail,
                &admin,
                ago(days),
            )?;
        }
        // A true-up of the web support.
        let web = held("problem_resolution_web")?;
        let reason = Reason::parse("True-up: 400 more qualifying server licences")
            .map_err(|e| refused("adjustment", e.message.en))?;
        metering::adjust(tx, &web, 4, &reason, &operator, ago(30))
            .map_err(|e| failed("adjustment")(&e))?;
        let detail = details::ledger_change(EntryKind::Adjustment, 4, web.unit);
        audit(
            tx,
            AuditAction::BenefitAdjusted,
            web.id,
            detail,
            &operator,
            ago(30),
        )?;
        // A download of the Multi-Language Pack.
        let pack = held("multi_language_pack")?;
        let pack_type = catalog
            .get(&pack.type_code)
            .ok_or_else(|| refused("multi_language_pack", "not in the catalog"))?;
        let software = pack_type
            .software
            .first()
            .ok_or_else(|| refused("multi_language_pack", "no software"))?;
        people::record_download(tx, pack_type, &pack, &software.id, &admin, ago(12))
            .map_err(|e| failed("download")(&e))?;
        let detail = details::ledger_change(EntryKind::Consumption, 1, pack.unit);
        audit(
            tx,
            AuditAction::BenefitConsumed,
            pack.id,
            detail,
            &admin,
            ago(12),
        )?;
        // A voucher assigned by mistake and revoked: its days came back.
        let training = tx
            .account_benefits(DEMO_ACCOUNT)?
            .into_iter()
            .find(|b| b.type_code.as_str() == "training_vouchers")
            .ok_or_else(|| refused("training_vouchers", "not granted"))?;
        let new = voucher::NewVoucher {
            holder_email: email("sam.okafor@contoso.com"),
            holder_name: name("Sam Okafor"),
            course: name("AZ-900 Azure Fundamentals"),
            days: voucher::VoucherDays::new(2).map_err(|_| refused("voucher", "days"))?,
        };
        let (assigned, _) =
            voucher::assign(tx, &training, demo_id(VOUCHERS, 3), new, &admin, ago(20))
                .map_err(|e| failed("voucher")(&e))?;
        tx.insert_voucher(&assigned)?;
        let (revoked, _) = voucher::revoke(tx, &training, &assigned, &admin, ago(18))
            .map_err(|e| failed("voucher")(&e))?;
        if !tx.update_voucher(&revoked, assigned.version)? {
            return Err(refused("voucher", "changed meanwhile"));
        }
        for (action, detail, at) in [
            (
                AuditAction::VoucherAssigned,
                details::voucher_assigned(assigned.days, &assigned.holder_email),
                ago(20),
            ),
            (
                AuditAction::VoucherRevoked,
                details::voucher_moved(voucher::VoucherStatus::Assigned, revoked.status),
                ago(18),
            ),
        ] {
            tx.audit(&crate::audit::event(
                &admin,
                Some(DEMO_ORG),
                action,
                TargetKind::Voucher.target(assigned.id),
                Some(detail),
                at,
            ))?;
        }
        // A voucher nobody used in its 180 days: expired ten days ago, its days back.
        let training = tx
            .account_benefits(DEMO_ACCOUNT)?
            .into_iter()
            .find(|b| b.type_code.as_str() == "training_vouchers")
            .ok_or_else(|| refused("training_vouchers", "not granted"))?;
        let new = voucher::NewVoucher {
            holder_email: email("ana.lopez@contoso.com"),
            holder_name: name("Ana López"),
            course: name("MD-102 Endpoint Administrator"),
            days: voucher::VoucherDays::new(3).map_err(|_| refused("voucher", "days"))?,
        };
        let assigned_at = ago(190);
        let (unused, _) = voucher::assign(
            tx,
            &training,
            demo_id(VOUCHERS, 4),
            new,
            &admin,
            assigned_at,
        )
        .map_err(|e| failed("voucher")(&e))?;
        tx.insert_voucher(&unused)?;
        let lapsed = unused.expires_at;
        let time = Actor::time("voucher expiry");
        let (expired, _) = voucher::record_expiry(tx, &training, &unused, &time, lapsed)
            .map_err(|e| failed("voucher expiry")(&e))?
            .ok_or_else(|| refused("voucher expiry", "not due"))?;
        if !tx.update_voucher(&expired, unused.version)? {
            return Err(refused("voucher", "changed meanwhile"));
        }
        for (actor, action, detail, at) in [
            (
                &admin,
                AuditAction::VoucherAssigned,
                details::voucher_assigned(unused.days, &unused.holder_email),
                assigned_at,
            ),
            (
                &time,
                AuditAction::VoucherExpired,
                details::voucher_expired(unused.days, true),
                lapsed,
            ),
        ] {
            tx.audit(&crate::audit::event(
                actor,
                Some(DEMO_ORG),
                action,
                TargetKind::Voucher.target(unused.id),
                Some(detail),
                at,
            ))?;
        }
        // One of the two planning days converted a week ago goes back to training days.
        demo_conversion(tx, Direction::Reverse, 1, &admin, ago(2), now)
    })
}

/// The demo account's administrator, as the actor of what the demo records in her name.
fn customer_admin() -> Actor {
    Actor {
        subject: ADMIN_SUBJECT.to_owned(),
        role: Role::CustomerAdmin,
        partner: None,
    }
}

/// One conversion of `planning_days` on the demo account, as `POST /conversions` records it:
/// the two ledger entries, the conversion's row and its audit line.
fn demo_conversion(
    tx: &mut persistence::Tx<'_>,
    direction: domain::conversion::Direction,
    planning_days: i64,
    actor: &Actor,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    use domain::conversion::{ConversionRecord, Direction, Position, TRAINING_TO_PLANNING};
    let rule = TRAINING_TO_PLANNING;
    let benefits = tx.account_benefits(DEMO_ACCOUNT)?;
    let converted = tx.converted(DEMO_ACCOUNT, &rule)?;
    let position = Position::of(&rule, &benefits, converted, now);
    let id = Uuid::new_v4();
    rule.convert(
        tx,
        direction,
        &position,
        planning_days,
        domain::conversion::Attribution {
            actor,
            reference: &format!("conversion:{id}"),
        },
        at,
    )
    .map_err(|e| refused("conversion", format!("{e:?}")))?;
    let (source, target) = match (position.source, position.target) {
        (Some(s), Some(t)) => (s.id, t.id),
        _ => return Err(refused("conversion", "benefits missing")),
    };
    let training_days = rule.ratio * planning_days;
    tx.insert_conversion(&ConversionRecord {
        id,
        account_id: DEMO_ACCOUNT,
        rule,
        direction,
        source_benefit_id: source,
        target_benefit_id: target,
        source_days: training_days,
        target_days: planning_days,
        actor: actor.clone(),
        at,
    })?;
    tx.audit(&crate::audit::event(
        actor,
        Some(DEMO_ORG),
        AuditAction::ConversionMade,
        TargetKind::Conversion.target(id),
        Some(domain::audit::details::conversion(
            direction == Direction::Forward,
            training_days,
            planning_days,
        )),
        at,
    ))?;
    Ok(())
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
    use domain::conversion::Direction;
    use domain::voucher::{self, NewVoucher, VoucherDays};
    let admin = customer_admin();
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
                // Its voucher expires in 15 days: "training days expiring".
                165,
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
                TargetKind::Voucher.target(v.id),
                Some(domain::audit::details::voucher_assigned(
                    v.days,
                    &v.holder_email,
                )),
                v.assigned_at,
            ))?;
        }
        demo_conversion(tx, Direction::Forward, 2, &admin, ago(7), now)
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
    let admin = customer_admin();
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
                    people::add_user(tx, benefit_type, &benefit, &user, &domains, &admin, at)
                        .map_err(|e| refused("user", format!("{e:?}")))?;
                    tx.audit(&crate::audit::event(
                        &admin,
                        Some(DEMO_ORG),
                        AuditAction::UserAdded,
                        TargetKind::User.target(user.id),
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
