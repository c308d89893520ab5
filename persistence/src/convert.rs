//! Conversions between stored columns and domain values. Stored data is parsed again on the
//! way out: a row that no longer parses is a storage failure, never a panic.

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use domain::error::StorageError;
use uuid::Uuid;

/// UTC time as stored: microsecond precision on both backends.
pub(crate) fn to_db(at: DateTime<Utc>) -> NaiveDateTime {
    let naive = at.naive_utc();
    naive
        .with_nanosecond(naive.nanosecond() / 1_000 * 1_000)
        .unwrap_or(naive)
}

pub(crate) fn from_db(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

pub(crate) fn uuid(raw: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(raw).map_err(|e| StorageError(format!("stored id {raw:?} is not a UUID: {e}")))
}

pub(crate) fn corrupt(what: &str, raw: &str) -> StorageError {
    StorageError(format!("stored {what} {raw:?} does not parse"))
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(
    what: &str,
    raw: &str,
) -> Result<T, StorageError> {
    serde_json::from_str(raw)
        .map_err(|e| StorageError(format!("stored {what} is not valid JSON: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError(format!("cannot encode JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_keep_microseconds() {
        let at = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(from_db(to_db(at)).timestamp_subsec_nanos(), 123_456_000);
    }
}
