//! The audit log: every change, by whom, on whose behalf. Written in the same transaction as
//! the change it records.

use crate::auth::Actor;
use crate::ids::OrganizationId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

macro_rules! actions {
    ($($variant:ident => $code:literal),* $(,)?) => {
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
        }
    };
}

actions! {
    OrganizationCreated => "organization_created",
    OrganizationUpdated => "organization_updated",
    AccountCreated => "account_created",
    PartnerCreated => "partner_created",
    PartnerUpdated => "partner_updated",
    BenefitGranted => "benefit_granted",
    BenefitAdjusted => "benefit_adjusted",
    BenefitConsumed => "benefit_consumed",
    PermissionRequested => "permission_requested",
    PermissionApproved => "permission_approved",
    PermissionDeclined => "permission_declined",
    PermissionWithdrawn => "permission_withdrawn",
    PermissionRemoved => "permission_removed",
    VoucherAssigned => "voucher_assigned",
    VoucherRevoked => "voucher_revoked",
    VoucherRedeemed => "voucher_redeemed",
    VoucherExpired => "voucher_expired",
    ConversionMade => "conversion_made",
    DomainAdded => "domain_added",
    DomainRemoved => "domain_removed",
    UserAdded => "user_added",
    UserModified => "user_modified",
    UserRemoved => "user_removed",
    InstructionsSent => "instructions_sent",
    AccessCodeSent => "access_code_sent",
    DownloadRecorded => "download_recorded",
    ProductKeysViewed => "product_keys_viewed",
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
}

impl TargetKind {
    pub const ALL: [TargetKind; 8] = [
        TargetKind::Organization,
        TargetKind::Account,
        TargetKind::Partner,
        TargetKind::Benefit,
        TargetKind::Permission,
        TargetKind::Voucher,
        TargetKind::Conversion,
        TargetKind::User,
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
    /// Who did it; `actor.partner` is set when a partner acted on behalf of the organization.
    pub actor: Actor,
    pub action: AuditAction,
    pub target_kind: TargetKind,
    pub target_id: Uuid,
    /// A short account of the change, e.g. "consumed 2 incidents".
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

impl AuditEvent {
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
