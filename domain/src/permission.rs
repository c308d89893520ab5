//! Partner permissions: what a customer lets its licensing partner do on its behalf.

use crate::auth::Scope;
use crate::ids::{OrganizationId, PartnerId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long a request may wait for an answer before it expires.
pub const PENDING_LIFETIME: Duration = Duration::days(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionStatus {
    Pending,
    Approved,
    Declined,
    Withdrawn,
    Removed,
    Expired,
}

impl PermissionStatus {
    pub const ALL: [PermissionStatus; 6] = [
        PermissionStatus::Pending,
        PermissionStatus::Approved,
        PermissionStatus::Declined,
        PermissionStatus::Withdrawn,
        PermissionStatus::Removed,
        PermissionStatus::Expired,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PermissionStatus::Pending => "pending",
            PermissionStatus::Approved => "approved",
            PermissionStatus::Declined => "declined",
            PermissionStatus::Withdrawn => "withdrawn",
            PermissionStatus::Removed => "removed",
            PermissionStatus::Expired => "expired",
        }
    }

    pub fn parse(code: &str) -> Option<PermissionStatus> {
        PermissionStatus::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// A permission as stored: `status` is the last recorded move; [`Permission::status_at`]
/// adds the moves time makes on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub partner_id: PartnerId,
    pub status: PermissionStatus,
    pub scopes: Vec<Scope>,
    /// End date of the permission once approved.
    pub expires_at: Option<DateTime<Utc>>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Permission {
    /// The status at `now`: an approved permission past its end date, or a request left
    /// unanswered for 90 days, reads as expired even before anything records it.
    pub fn status_at(&self, now: DateTime<Utc>) -> PermissionStatus {
        match self.status {
            PermissionStatus::Approved if self.expires_at.is_some_and(|end| now >= end) => {
                PermissionStatus::Expired
            }
            PermissionStatus::Pending if now >= self.requested_at + PENDING_LIFETIME => {
                PermissionStatus::Expired
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn permission(status: PermissionStatus, expires_at: Option<DateTime<Utc>>) -> Permission {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Permission {
            id: Uuid::nil(),
            organization_id: OrganizationId(Uuid::nil()),
            partner_id: PartnerId(Uuid::nil()),
            status,
            scopes: Scope::ALL.to_vec(),
            expires_at,
            requested_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn time_expires_approved_and_pending_permissions() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let end = start + Duration::days(10);
        let approved = permission(PermissionStatus::Approved, Some(end));
        assert_eq!(
            approved.status_at(end - Duration::seconds(1)),
            PermissionStatus::Approved
        );
        assert_eq!(approved.status_at(end), PermissionStatus::Expired);
        let pending = permission(PermissionStatus::Pending, None);
        assert_eq!(
            pending.status_at(start + Duration::days(89)),
            PermissionStatus::Pending
        );
        assert_eq!(
            pending.status_at(start + Duration::days(90)),
            PermissionStatus::Expired
        );
        let declined = permission(PermissionStatus::Declined, None);
        assert_eq!(
            declined.status_at(start + Duration::days(900)),
            PermissionStatus::Declined
        );
    }
}
