//! The ports the domain needs: a clock, and the repositories. Implementations live in
//! `persistence` (repositories) and `api` (the system clock). Repository calls block.

use crate::audit::AuditEvent;
use crate::auth::{ActivePermission, Actor};
use crate::benefit::{Benefit, Grant, GrantError};
use crate::catalog::Catalog;
use crate::conversion::{ConversionRecord, ConversionRule};
use crate::entities::{Organization, Partner, PurchasingAccount};
use crate::error::{StorageError, WriteError};
use crate::events::{Delivery, Event, Webhook};
use crate::ids::{AccountId, BenefitId, OrganizationId, PartnerId};
use crate::ledger::{EntryKind, Figures};
use crate::metering::{LedgerEntry, LedgerFilter};
use crate::notification::Notification;
use crate::page::{Page, PageRequest};
use crate::people::BenefitUser;
use crate::permission::{Permission, PermissionEvent, PermissionStatus};
use crate::values::DomainName;
use crate::voucher::Voucher;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where the time comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub trait CatalogRepository {
    /// Adds the types of `catalog` the database does not have yet, and refreshes the texts of
    /// those it has. Types only the database knows are kept.
    fn install_catalog(&self, catalog: &Catalog) -> Result<(), StorageError>;
    fn catalog(&self) -> Result<Catalog, StorageError>;
}

pub trait DirectoryRepository {
    fn insert_organization(&self, organization: &Organization) -> Result<(), StorageError>;
    fn organization(&self, id: OrganizationId) -> Result<Option<Organization>, StorageError>;
    fn insert_account(&self, account: &PurchasingAccount) -> Result<(), StorageError>;
    fn account(&self, id: AccountId) -> Result<Option<PurchasingAccount>, StorageError>;
    fn accounts(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<PurchasingAccount>, StorageError>;
    fn insert_partner(&self, partner: &Partner) -> Result<(), StorageError>;
    fn partner(&self, id: PartnerId) -> Result<Option<Partner>, StorageError>;
    /// Whether the database holds no organization yet (demo data goes only into an empty one).
    fn is_empty(&self) -> Result<bool, StorageError>;
}

/// A benefit with the account that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBenefit {
    pub benefit: Benefit,
    pub account: PurchasingAccount,
}

/// An account with everything its benefit pages show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portfolio {
    pub account: PurchasingAccount,
    pub benefits: Vec<Benefit>,
    /// How many e-mail domains the account has authorized (what its pages tell of them).
    pub authorized_domains: usize,
    /// The assigned vouchers of its Training Vouchers benefits (for their alerts).
    pub voucher_expiries: Vec<crate::voucher::VoucherExpiry>,
}

pub trait BenefitRepository {
    /// Records a grant: checks it against the account's benefits ([`Grant::check_against`])
    /// and writes the benefit and its first ledger entry in one transaction.
    fn grant(
        &self,
        account: AccountId,
        id: BenefitId,
        grant: &Grant,
        access_code: Option<String>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Benefit, WriteError<GrantError>>;
    fn benefits_of_account(&self, account: AccountId) -> Result<Vec<Benefit>, StorageError>;
    /// An account with its benefits and authorized domains, read together.
    fn portfolio(&self, account: AccountId) -> Result<Option<Portfolio>, StorageError>;
    fn benefit(&self, id: BenefitId) -> Result<Option<HeldBenefit>, StorageError>;
    /// The account's authorized e-mail domains, in order.
    fn authorized_domains(&self, account: AccountId) -> Result<Vec<DomainName>, StorageError>;
    /// Metered benefits past their end with units left, whose expiry is not recorded yet
    /// (up to `limit`, oldest end first).
    fn due_benefit_expiries(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<BenefitId>, StorageError>;
}

pub trait PermissionRepository {
    /// Records a permission as it stands with its history (used by the demo data).
    fn insert_permission(
        &self,
        permission: &Permission,
        history: &[PermissionEvent],
    ) -> Result<(), StorageError>;

    /// The partner's approved permission on the organization that has not expired at `now`.
    fn active_permission(
        &self,
        partner: PartnerId,
        organization: OrganizationId,
        now: DateTime<Utc>,
    ) -> Result<Option<ActivePermission>, StorageError>;

    fn permission(&self, id: Uuid) -> Result<Option<Permission>, StorageError>;

    /// Every recorded move, oldest first.
    fn permission_history(&self, id: Uuid) -> Result<Vec<PermissionEvent>, StorageError>;

    /// The organization's permissions, oldest request first; `status` filters on the status
    /// at `now` (time-made expiry included).
    fn organization_permissions(
        &self,
        organization: OrganizationId,
        status: Option<PermissionStatus>,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Permission>, StorageError>;

    /// The partner's own permissions, filtered as above.
    fn partner_permissions(
        &self,
        partner: PartnerId,
        status: Option<PermissionStatus>,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Permission>, StorageError>;

    /// The organizations the partner holds an approved, unexpired permission on.
    fn permitted_organizations(
        &self,
        partner: PartnerId,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<(Organization, Permission)>, StorageError>;

    /// Records the expiries time has made (the sweeper); how many.
    fn record_permission_expiries(&self, now: DateTime<Utc>) -> Result<usize, StorageError>;
}

/// The audit log and the outbox, read back.
pub trait RecordsRepository {
    /// The organization's audit events, newest first.
    fn audit_events(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StorageError>;
    /// The organization's notifications, newest first.
    fn notifications(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<Notification>, StorageError>;
}

/// Delivery of the outbox.
pub trait OutboxRepository {
    /// Claims up to `limit` pending notifications due at `now` for delivery: each claimed one
    /// is not due again before `lease_until`, so two workers never send it both.
    fn claim_due_notifications(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Notification>, StorageError>;
    fn mark_sent(&self, id: Uuid, attempts: i32, at: DateTime<Utc>) -> Result<(), StorageError>;
    /// Records a failed attempt: retried at `retry_at`, or given up (`None`).
    fn mark_failed_attempt(
        &self,
        id: Uuid,
        attempts: i32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StorageError>;
}

/// The organizations' events and the partners' webhooks.
pub trait EventRepository {
    /// Up to `limit` events of the organization after `after`, in order of position.
    fn events_after(
        &self,
        organization: OrganizationId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StorageError>;
    /// The organization's last position (0 before its first event).
    fn last_position(&self, organization: OrganizationId) -> Result<i64, StorageError>;
    /// The partner's subscriptions, oldest first.
    fn webhooks(&self, partner: PartnerId) -> Result<Vec<Webhook>, StorageError>;
    /// A subscription with its salt and secret check, when it exists and was not removed.
    fn webhook(&self, id: Uuid) -> Result<Option<(Webhook, String, String)>, StorageError>;
    /// Ends a subscription of the partner: its pending deliveries are not made. False when
    /// the partner has no such subscription.
    fn remove_webhook(
        &self,
        partner: PartnerId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError>;
    /// A subscription's deliveries, newest first.
    fn deliveries(&self, webhook: Uuid, limit: i64) -> Result<Vec<Delivery>, StorageError>;
    /// Claims up to `limit` deliveries due at `now`: none is due again before
    /// `lease_until`, so two servers never make one both.
    fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StorageError>;
    /// Records an attempt: its new status, the receiver's answer, the next attempt.
    fn record_attempt(&self, delivery: &Delivery) -> Result<(), StorageError>;
    /// Forgets the finished deliveries (delivered, failed, skipped) made before `before`;
    /// how many.
    fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<usize, StorageError>;
}

/// The users of benefits, read back.
pub trait UserRepository {
    /// The benefit's users, oldest first.
    fn users(
        &self,
        benefit: BenefitId,
        page: &PageRequest,
    ) -> Result<Page<BenefitUser>, StorageError>;
    fn user(&self, benefit: BenefitId, id: Uuid) -> Result<Option<BenefitUser>, StorageError>;
}

/// Training vouchers, read back.
pub trait VoucherRepository {
    /// A voucher with the benefit (and account) it was assigned from.
    fn voucher(&self, id: Uuid) -> Result<Option<(Voucher, HeldBenefit)>, StorageError>;
    /// The benefit's vouchers, oldest first.
    fn vouchers(
        &self,
        benefit: BenefitId,
        page: &PageRequest,
    ) -> Result<Page<Voucher>, StorageError>;
    /// The benefit's assigned vouchers, as its alerts need them.
    fn voucher_expiries(
        &self,
        benefit: BenefitId,
    ) -> Result<Vec<crate::voucher::VoucherExpiry>, StorageError>;
    /// Vouchers time has expired whose expiry is not recorded yet (up to `limit`).
    fn due_voucher_expiries(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Uuid>, StorageError>;
}

/// Conversions, read back.
pub trait ConversionRepository {
    /// The account's conversions, newest first.
    fn conversions(
        &self,
        account: AccountId,
        page: &PageRequest,
    ) -> Result<Page<ConversionRecord>, StorageError>;
    /// Target days converted forward and not back, for this rule on the account.
    fn converted_days(
        &self,
        account: AccountId,
        rule: &ConversionRule,
    ) -> Result<i64, StorageError>;
}

/// A benefit's figures (`None` when unmetered) and its ledger's totals by kind, read together.
pub type LedgerSnapshot = (Option<Figures>, Vec<(EntryKind, i64)>);

/// Reading a benefit's ledger back.
pub trait LedgerHistory {
    /// One page of the ledger, newest first.
    fn entries(
        &self,
        benefit: BenefitId,
        filter: &LedgerFilter,
        page: &PageRequest,
    ) -> Result<Page<LedgerEntry>, StorageError>;
    /// Up to `limit` entries after position `after_seq`, oldest first (for exports).
    fn entries_after(
        &self,
        benefit: BenefitId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>, StorageError>;
    /// The ledger's totals by kind, in kind order.
    fn totals(&self, benefit: BenefitId) -> Result<Vec<(EntryKind, i64)>, StorageError>;
    /// The benefit's figures and the ledger's totals read on one snapshot (`None`: no such
    /// benefit), so the invariant can be checked while writes go on.
    fn figures_with_totals(
        &self,
        benefit: BenefitId,
    ) -> Result<Option<LedgerSnapshot>, StorageError>;
}
