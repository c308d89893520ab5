//! The answers more than one route renders: a ledger change and its row, the actor of a
//! change, a catalog type, an organization, a notification. A route module renders its own
//! answers; what two of them share lives here, so no route module imports another.

use chrono::{DateTime, Utc};
use domain::catalog::{BenefitType, Features};
use domain::entities::Organization;
use domain::ledger::Figures;
use domain::metering::LedgerEntry;
use domain::notification::Notification;
use domain::Language;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Who made a change.
#[derive(Serialize, ToSchema)]
pub struct ActorView {
    /// The token's `sub`.
    pub subject: String,
    /// `customer_admin`, `partner` or `operator`.
    pub role: String,
    /// The partner that acted on behalf of the organization.
    pub partner_id: Option<Uuid>,
}

/// One row of a benefit's ledger.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "2d4c6e8a-1b3d-4f5a-8c7e-9a0b1c2d3e4f", "benefit_id": "6f1e2d3c-4b5a-4697-8877-665544332211", "seq": 7,
    "kind": "consumption", "kind_label": "Consumption", "quantity": -2, "entitled_change": 0, "used_change": 2, "quantity_after": 20, "used_after": 9, "remaining_after": 11,
    "actor": {"subject": "ana.lopez@contoso.com", "role": "customer_admin", "partner_id": null},
    "reference": "INC-20261124-0042", "note": "Exchange outage", "created_at": "2026-11-24T10:15:00Z"
}))]
pub struct TransactionView {
    pub id: Uuid,
    pub benefit_id: Uuid,
    /// Position in the benefit's ledger, from 1.
    pub seq: i64,
    /// `grant`, `adjustment`, `consumption`, `release`, `voucher_assigned`, `voucher_revoked`,
    /// `voucher_expired`, `conversion_in`, `conversion_out`, `expiry`.
    pub kind: String,
    /// The kind as a person reads it, in the answer's language.
    #[schema(example = "Consumption")]
    pub kind_label: String,
    /// Signed change of what remains: the column sums to `remaining`.
    pub quantity: i64,
    /// Signed change of the entitled quantity (grants, adjustments, conversions, expiry).
    pub entitled_change: i64,
    /// Signed change of what is used (consumptions, releases, vouchers).
    pub used_change: i64,
    pub quantity_after: Option<i64>,
    pub used_after: Option<i64>,
    pub remaining_after: Option<i64>,
    pub actor: ActorView,
    pub reference: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TransactionView {
    pub fn new(e: &LedgerEntry, language: domain::Language) -> Self {
        Self {
            id: e.id.as_uuid(),
            benefit_id: e.benefit_id.as_uuid(),
            seq: e.seq,
            kind: e.kind.code().to_owned(),
            kind_label: e.kind.label().get(language).to_owned(),
            quantity: e.remaining_change(),
            entitled_change: e.entitled_change(),
            used_change: e.used_change(),
            quantity_after: e.after.map(|f| f.quantity),
            used_after: e.after.map(|f| f.used),
            remaining_after: e.after.map(Figures::remaining),
            actor: ActorView {
                subject: e.actor_subject.clone(),
                role: e.actor_role.code().to_owned(),
                partner_id: e.partner.map(|p| p.as_uuid()),
            },
            reference: e.reference.clone(),
            note: e.note.clone(),
            created_at: e.created_at,
        }
    }
}

/// A change of the ledger and the figures it left.
#[derive(Serialize, ToSchema)]
pub struct LedgerChange {
    pub transaction: TransactionView,
    pub quantity: Option<i64>,
    pub used: Option<i64>,
    pub remaining: Option<i64>,
}

impl LedgerChange {
    pub fn new(e: &LedgerEntry, language: domain::Language) -> Self {
        Self {
            transaction: TransactionView::new(e, language),
            quantity: e.after.map(|f| f.quantity),
            used: e.after.map(|f| f.used),
            remaining: e.after.map(Figures::remaining),
        }
    }
}

/// A type of benefit of the catalog.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "code": "e_learning", "name": "E-Learning", "unit": "participants", "unit_label": "participants",
    "description": "Interactive, self-paced online training on a selection of Microsoft technologies, so employees are more productive with the software they use today and ready for new versions.",
    "learn_more_url": "http://www.microsoft.com/learning/sa",
    "admin_instructions": "Authorize at least one e-mail domain…", "end_user_instructions": "You have been enrolled…",
    "calculation": "Participant seats are granted from…",
    "features": {"has_vouchers": false, "convertible": false, "takes_users": true, "user_consumes": true, "removal_releases": true, "requires_authorized_domain": true,
                 "has_access_code": false, "has_downloads": false, "has_product_keys": false}
}))]
pub struct BenefitTypeView {
    /// Stable catalog code.
    pub code: String,
    pub name: String,
    /// What the benefit is counted in; `unmetered` has no quantity.
    #[schema(example = "participants")]
    pub unit: String,
    /// The unit for people, in the asked language.
    pub unit_label: String,
    pub description: String,
    pub learn_more_url: String,
    /// How an administrator sets the benefit up.
    pub admin_instructions: String,
    /// What an administrator sends to the people who use it.
    pub end_user_instructions: String,
    /// How the quantity is calculated.
    pub calculation: String,
    pub features: FeaturesView,
}

/// What a type does beyond its unit.
#[derive(Serialize, ToSchema)]
pub struct FeaturesView {
    /// The benefit carries training vouchers (`/benefits/{id}/vouchers`).
    pub has_vouchers: bool,
    /// The benefit takes part in a conversion (`/accounts/{id}/conversions`).
    pub convertible: bool,
    pub takes_users: bool,
    pub user_consumes: bool,
    pub removal_releases: bool,
    pub requires_authorized_domain: bool,
    pub has_access_code: bool,
    pub has_downloads: bool,
    pub has_product_keys: bool,
}

impl FeaturesView {
    /// What a type offers: its features, and the rules that apply to it.
    pub fn of(t: &BenefitType) -> Self {
        let f: Features = t.features;
        Self {
            has_vouchers: domain::voucher::has_vouchers(t.unit),
            convertible: domain::conversion::convertible(t.code.as_str()),
            takes_users: f.takes_users,
            user_consumes: f.user_consumes,
            removal_releases: f.removal_releases,
            requires_authorized_domain: f.requires_authorized_domain,
            has_access_code: f.has_access_code,
            has_downloads: f.has_downloads,
            has_product_keys: f.has_product_keys,
        }
    }
}

impl BenefitTypeView {
    pub fn new(t: &BenefitType, language: Language) -> Self {
        Self {
            code: t.code.as_str().to_owned(),
            name: t.name.get(language).to_owned(),
            unit: t.unit.code().to_owned(),
            unit_label: t.unit.label(language).to_owned(),
            description: t.description.get(language).to_owned(),
            learn_more_url: t.learn_more_url.clone(),
            admin_instructions: t.admin_instructions.get(language).to_owned(),
            end_user_instructions: t.end_user_instructions.get(language).to_owned(),
            calculation: t.calculation.get(language).to_owned(),
            features: FeaturesView::of(t),
        }
    }
}

/// A customer organization.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0b5c1f8e-3f4c-4b8a-9a51-2d1f3e4c5b6a", "name": "Contoso Ltd",
    "contact_emails": ["it-admins@contoso.com"], "created_at": "2026-11-24T09:30:00Z",
    "preferred_language": "en"}))]
pub struct OrganizationView {
    pub id: Uuid,
    pub name: String,
    pub contact_emails: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The language of the e-mails its administrators receive.
    #[schema(value_type = String)]
    pub preferred_language: &'static str,
}

impl From<&Organization> for OrganizationView {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.as_uuid(),
            name: o.name.as_str().to_owned(),
            contact_emails: o.contact_emails.iter().map(ToString::to_string).collect(),
            created_at: o.created_at,
            preferred_language: o.preferred_language.code(),
        }
    }
}

/// One e-mail of the outbox.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "1a3c5e7f-9b2d-4f6a-8c0e-2d4f6a8c0e1b", "recipient": "it-admins@contoso.com",
    "template": "permission_requested", "language": "en",
    "subject": "Northwind Advisors asks to manage the benefits of Contoso Ltd",
    "body": "Northwind Advisors asks to manage the Software Assurance benefits of Contoso Ltd on its behalf. Approve or decline the request in the portal.",
    "status": "pending", "status_label": "Waiting to be sent", "attempts": 0, "last_error": null,
    "next_attempt_at": "2026-11-24T10:15:00Z", "created_at": "2026-11-24T10:15:00Z", "sent_at": null
}))]
pub struct NotificationView {
    pub id: Uuid,
    /// `null` when there was nobody to send it to (status `no_recipient`).
    pub recipient: Option<String>,
    /// e.g. `permission_requested`, `permission_approved`, `voucher_assigned`.
    pub template: String,
    /// `en` or `fr`.
    pub language: String,
    pub subject: String,
    pub body: String,
    /// `pending` (not sent yet, or waiting for a retry), `sent`, `failed` (gave up),
    /// `no_recipient` (nobody to send it to: kept so that it is seen).
    pub status: String,
    /// The status for people, in the language of the answer.
    pub status_label: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl NotificationView {
    pub fn of(n: &Notification, language: Language) -> Self {
        Self {
            id: n.id,
            recipient: n.recipient.as_ref().map(ToString::to_string),
            template: n.template.clone(),
            language: n.language.code().to_owned(),
            subject: n.subject.clone(),
            body: n.body.clone(),
            status: n.status.code().to_owned(),
            status_label: n.status.label().get(language).to_owned(),
            attempts: n.attempts,
            last_error: n.last_error.clone(),
            next_attempt_at: n.next_attempt_at,
            created_at: n.created_at,
            sent_at: n.sent_at,
        }
    }
}
