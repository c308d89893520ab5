//! Organizations, purchasing accounts and partners.

use crate::ids::{AccountId, OrganizationId, PartnerId};
use crate::values::{EmailAddress, Name, Reference};
use chrono::{DateTime, Utc};

/// A customer organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: Name,
    /// Where notifications for the organization's administrators go.
    pub contact_emails: Vec<EmailAddress>,
    pub created_at: DateTime<Utc>,
    /// The language of the e-mails its administrators receive.
    pub preferred_language: crate::Language,
}

/// A purchasing account of an organization: benefits are held per account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchasingAccount {
    pub id: AccountId,
    pub organization_id: OrganizationId,
    pub name: Name,
    pub agreement_number: Option<Reference>,
    /// Software Assurance identification number.
    pub sa_id: Option<Reference>,
    pub program_code: Option<Reference>,
    pub created_at: DateTime<Utc>,
}

/// A licensing partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub id: PartnerId,
    pub name: Name,
    pub contact_email: Option<EmailAddress>,
    pub created_at: DateTime<Utc>,
    /// The language of the e-mails it receives.
    pub preferred_language: crate::Language,
}
