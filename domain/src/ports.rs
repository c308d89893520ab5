//! The ports the domain needs: a clock, and the repositories. Implementations live in
//! `persistence` (repositories) and `api` (the system clock). Repository calls block.

use crate::auth::{ActivePermission, Actor};
use crate::benefit::{Benefit, Grant, GrantError};
use crate::catalog::Catalog;
use crate::entities::{Organization, Partner, PurchasingAccount};
use crate::error::StorageError;
use crate::ids::{AccountId, BenefitId, OrganizationId, PartnerId};
use crate::ledger::EntryKind;
use crate::metering::{LedgerEntry, LedgerFilter};
use crate::page::{Page, PageRequest};
use crate::permission::Permission;
use crate::values::DomainName;
use chrono::{DateTime, Utc};

/// Where the time comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// A failed write: the rule refused it, or the storage failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<E> {
    #[error(transparent)]
    Refused(E),
    #[error(transparent)]
    Storage(#[from] StorageError),
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
    pub domains: Vec<DomainName>,
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
}

pub trait PermissionRepository {
    /// Records a permission as it stands (used for a new request and by the demo data).
    fn insert_permission(&self, permission: &Permission) -> Result<(), StorageError>;

    /// The partner's approved permission on the organization that has not expired at `now`.
    fn active_permission(
        &self,
        partner: PartnerId,
        organization: OrganizationId,
        now: DateTime<Utc>,
    ) -> Result<Option<ActivePermission>, StorageError>;
}

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
}
