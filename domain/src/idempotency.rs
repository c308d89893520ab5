//! Idempotency keys: the same key with the same request within 24 hours gets the first
//! answer again instead of doing the work twice.

use crate::error::StorageError;
use crate::i18n::Localized;
use crate::values::InvalidValue;
use chrono::{DateTime, Duration, Utc};

/// How long a key is remembered.
pub const RETENTION: Duration = Duration::hours(24);
/// How long a row without an answer may block its key before a new request takes it over.
/// Keys are now stored with the work's own transaction, so such rows come only from older
/// versions that claimed keys first.
pub const LEASE: Duration = Duration::seconds(60);

/// An `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue {
                message: Localized::new(
                    "must be 1 to 255 visible ASCII characters",
                    "doit compter de 1 à 255 caractères ASCII visibles",
                ),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The answer given to the first request, kept to be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A stored key: the request it was used with, and its answer (`None` only for a row an
/// older version left in flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub fingerprint: String,
    pub response: Option<StoredResponse>,
    pub created_at: DateTime<Utc>,
    pub claimed_at: DateTime<Utc>,
}

/// What to do with an existing record for a new request with `fingerprint` at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The record is past retention: replace it.
    Replace,
    /// The claim was abandoned: take it over.
    TakeOver,
    Replay(StoredResponse),
    InFlight,
    Mismatch,
}

pub fn decide(record: &KeyRecord, fingerprint: &str, now: DateTime<Utc>) -> Decision {
    if now - record.created_at >= RETENTION {
        return Decision::Replace;
    }
    if record.fingerprint != fingerprint {
        return Decision::Mismatch;
    }
    match &record.response {
        Some(response) => Decision::Replay(response.clone()),
        None if now - record.claimed_at >= LEASE => Decision::TakeOver,
        None => Decision::InFlight,
    }
}

/// Where keys are kept.
pub trait IdempotencyStore {
    /// Forgets the keys past their 24 hours; how many.
    fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(
        response: Option<StoredResponse>,
        age: Duration,
        claim_age: Duration,
    ) -> (KeyRecord, DateTime<Utc>) {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        (
            KeyRecord {
                fingerprint: "f".into(),
                response,
                created_at: now - age,
                claimed_at: now - claim_age,
            },
            now,
        )
    }

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse("4f1c-retry-1").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("with space").is_err());
        assert!(IdempotencyKey::parse("clé").is_err());
    }

    #[test]
    fn decisions_follow_retention_fingerprint_and_lease() {
        let done = StoredResponse {
            status: 201,
            headers: vec![],
            body: "{}".into(),
        };
        let (r, now) = record(Some(done.clone()), Duration::hours(1), Duration::hours(1));
        assert_eq!(decide(&r, "f", now), Decision::Replay(done.clone()));
        assert_eq!(decide(&r, "other", now), Decision::Mismatch);
        let (r, now) = record(Some(done), Duration::hours(24), Duration::hours(24));
        assert_eq!(
            decide(&r, "other", now),
            Decision::Replace,
            "forgotten after 24 h"
        );
        let (r, now) = record(None, Duration::seconds(5), Duration::seconds(5));
        assert_eq!(decide(&r, "f", now), Decision::InFlight);
        let (r, now) = record(None, Duration::seconds(61), Duration::seconds(61));
        assert_eq!(decide(&r, "f", now), Decision::TakeOver);
    }
}
