//! Typed identifiers: an account id can never be passed where a benefit id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new identifier from the given random UUID (randomness is the caller's).
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A customer organization.
    OrganizationId,
    /// A purchasing account of an organization.
    AccountId,
    /// A licensing partner.
    PartnerId,
    /// A benefit (one type on one account).
    BenefitId,
    /// A row of a benefit's ledger.
    TransactionId,
);

/// A new id for a row that is only ever appended (a ledger entry, an audit line): a UUID of
/// version 7, whose first 48 bits are `at`'s milliseconds and the rest random. Rows made
/// one after the other then sort one after the other, so each insert lands on the last page
/// of the id's index instead of a random one: on SQLite a batch's commit and the
/// checkpointer's copies touch one page of that index instead of one per row
/// (docs/PERFORMANCE.md, "What a consumption writes"; on PostgreSQL the WAL per consumption
/// did not move within seconds of a checkpoint). The time it tells is the row's own
/// `created_at`, which the API shows anyway; a time before 1970 counts as 1970.
pub fn append_only_id(at: chrono::DateTime<chrono::Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(at.timestamp()).unwrap_or(0),
        at.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn append_only_ids_sort_by_their_time_and_stay_unique() {
        let start = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        let ids: Vec<Uuid> = (0..1000)
            .map(|n| append_only_id(start + Duration::milliseconds(n)))
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids follow their times"
        );
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        let same_ms: std::collections::HashSet<Uuid> =
            (0..1000).map(|_| append_only_id(start)).collect();
        assert_eq!(same_ms.len(), 1000, "ids of one millisecond differ");
        // Their text, as both databases store and index it, sorts the same way.
        let text: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        assert!(text.windows(2).all(|w| w[0] < w[1]));
    }
}
