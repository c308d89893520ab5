//! Request parsing shared by every handler: JSON bodies, query strings and path parameters
//! answer problem+json when they do not parse; list pagination; running blocking work.

use crate::error::{ApiError, Fields};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use chrono::{DateTime, Utc};
use domain::page::{After, PageRequest};
use domain::Localized;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|err, _req| json_error(&err).into())
}

fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Localized::new(
                    format!("The request body is over {MAX_BODY_BYTES} bytes."),
                    format!("Le corps de la requête dépasse {MAX_BODY_BYTES} octets."),
                ),
            )
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Localized::new(
                "Send the body as application/json.",
                "Envoyez le corps au format application/json.",
            ),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::bad_request(
            "invalid_body",
            Localized::new(
                format!("The body does not match this operation: {e}."),
                format!("Le corps ne correspond pas à cette opération : {e}."),
            ),
        ),
        _ => ApiError::bad_request(
            "malformed_json",
            Localized::new(
                "The body is not valid JSON.",
                "Le corps n'est pas du JSON valide.",
            ),
        ),
    }
}

/// A body that must be a JSON object, read into `T`. serde also reads a struct from an array
/// of its fields in order (`[null, null]`): a body whose fields are all optional would then
/// take any array. Take the body as a map, then this.
pub fn from_object<T: serde::de::DeserializeOwned>(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::Object(body)).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            Localized::new(
                format!("The body does not match this operation: {e}."),
                format!("Le corps ne correspond pas à cette opération : {e}."),
            ),
        )
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| query_error(&err).into())
}

fn query_error(err: &QueryPayloadError) -> ApiError {
    ApiError::bad_request(
        "invalid_query",
        Localized::new(
            format!("The query string is invalid: {err}."),
            format!("La chaîne de requête est invalide : {err}."),
        ),
    )
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, req| path_error(&err, req).into())
}

fn path_error(_err: &PathError, req: &HttpRequest) -> ApiError {
    let names: Vec<String> = req
        .match_info()
        .iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    let field = names.join(", ");
    ApiError::invalid(
        &field,
        Localized::new("must be a UUID", "doit être un UUID"),
    )
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many items to return: 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Where to continue: the `next_cursor` of the previous page.
    #[param(value_type = Option<openapi::text::Cursor>)]
    pub cursor: Option<String>,
}

impl ListQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        PageRequest::new(self.limit, after).ok_or_else(|| {
            ApiError::invalid(
                "limit",
                Localized::new("must be from 1 to 200", "doit être compris entre 1 et 200"),
            )
        })
    }
}

/// A cursor: `p<position>` or `k<microseconds since the epoch>_<uuid as 32 hex digits>`.
/// Every string of that shape (the documented pattern) decodes, so a client can never build
/// a cursor that is refused for its form.
pub fn encode_cursor(after: &After) -> String {
    match after {
        After::Position(p) => format!("p{p}"),
        After::Key { at, id } => format!("k{}_{}", at.timestamp_micros(), id.simple()),
    }
}

fn decode_cursor(raw: &str) -> Result<After, ApiError> {
    let digits = |s: &str, max: usize| {
        (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let decoded = if let Some(p) = raw.strip_prefix('p') {
        digits(p, 18).map(After::Position)
    } else if let Some(k) = raw.strip_prefix('k') {
        k.split_once('_').and_then(|(micros, id)| {
            let at = digits(micros, 16).and_then(DateTime::<Utc>::from_timestamp_micros)?;
            let hex_ok =
                id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            let id = hex_ok.then(|| Uuid::parse_str(id).ok()).flatten()?;
            Some(After::Key { at, id })
        })
    } else {
        None
    };
    decoded.ok_or_else(|| {
        ApiError::invalid(
            "cursor",
            Localized::new(
                "is not a cursor this service returned",
                "n'est pas un curseur renvoyé par ce service",
            ),
        )
    })
}

/// Pages a list that is computed in memory (the catalog, the portal's benefit lists), with
/// the position as the cursor.
pub fn page_in_memory<T>(items: Vec<T>, page: &PageRequest) -> (Vec<T>, Option<String>) {
    let start = page_start(page);
    let limit = page.limit() as usize;
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next =
        (start + limit < total).then(|| encode_cursor(&After::Position((start + limit) as i64)));
    (items, next)
}

/// Where a page of a list held in memory starts.
pub fn page_start(page: &PageRequest) -> usize {
    match page.after {
        Some(After::Position(p)) => usize::try_from(p).unwrap_or(0),
        _ => 0,
    }
}

/// Reads a JSON integer that may be written as a number with no fraction (`3.0`): JSON
/// Schema counts both as integers, so both are accepted. Other numbers are refused.
pub fn integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let value = serde_json::Number::deserialize(deserializer)?;
    if let Some(i) = value.as_i64() {
        return Ok(i);
    }
    match value.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number, found {value}"
        ))),
    }
}

/// [`integer`] for an optional field.
pub fn optional_integer<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapper(#[serde(deserialize_with = "integer")] i64);
    Option::<Wrapper>::deserialize(deserializer).map(|w| w.map(|Wrapper(i)| i))
}

/// How many pieces of blocking work run at once: as many as the pool has connections (set
/// at start, [`limit_blocking_work`]). Without it every waiting request had a thread of its
/// own parked on the pool's condition variable (64 threads for 16 connections under wrk
/// `-c64`), and the kernel's switches between them were the largest cost of a cached-off
/// list read on PostgreSQL (docs/PERFORMANCE.md); waiting here costs a task, not a thread.
static BLOCKING_SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();

/// Sets how many pieces of blocking work run at once (the first call of the process wins:
/// servers of one process share the blocking threads).
pub fn limit_blocking_work(slots: usize) {
    let _ = BLOCKING_SLOTS.set(tokio::sync::Semaphore::new(slots.max(1)));
}

/// Runs blocking work (database calls) off the async workers, in the request's span: what it
/// logs carries the request id.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let _slot = match BLOCKING_SLOTS.get() {
        Some(slots) => Some(slots.acquire().await.map_err(|_| ApiError::internal())?),
        None => None,
    };
    let span = tracing::Span::current();
    web::block(move || span.in_scope(f)).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        ApiError::internal()
    })?
}

/// A language given in a body: `en` or `fr`.
pub fn parse_language(
    fields: &mut Fields,
    name: &str,
    raw: Option<&str>,
) -> Option<Option<domain::Language>> {
    match raw {
        None => Some(None),
        Some(code) => fields
            .check(
                name,
                domain::Language::parse(code).ok_or(domain::values::InvalidValue {
                    message: domain::Localized::new("must be en or fr", "doit valoir en ou fr"),
                }),
            )
            .map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log writer the test can read.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What blocking work logs carries the request id of the request it serves (the JSON
    /// lines of `LOG_FORMAT=json`, event fields flat at the top).
    #[actix_web::test]
    async fn events_logged_in_blocking_work_carry_the_request_id() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(move || writer.clone())
            .finish();
        // The blocking pool's threads see the global subscriber only.
        let _ = tracing::subscriber::set_global_default(subscriber);
        let span = tracing::info_span!("request", request_id = "req-42");
        tracing::Instrument::instrument(
            blocking(|| {
                tracing::warn!(figure = 7, "inside blocking work");
                Ok(())
            }),
            span,
        )
        .await
        .unwrap();
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line = logged
            .lines()
            .find(|l| l.contains("inside blocking work"))
            .unwrap_or_else(|| panic!("not logged: {logged}"));
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["span"]["request_id"], "req-42", "{line}");
        assert_eq!(event["figure"], 7, "flat fields: {line}");
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        // Stored times have microseconds: cursors keep exactly that.
        let at = DateTime::<Utc>::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
        let after = After::Key {
            at,
            id: Uuid::new_v4(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&after)).unwrap(), after);
        let after = After::Position(42);
        assert_eq!(decode_cursor(&encode_cursor(&after)).unwrap(), after);
        for garbage in [
            "not-a-cursor",
            "p",
            "p-1",
            "k1_ABCDEF",
            "k_00000000000000000000000000000000",
        ] {
            assert!(decode_cursor(garbage).is_err(), "{garbage}");
        }
        // Every string of the documented shape decodes.
        for edge in [
            "p999999999999999999",
            "k9999999999999999_ffffffffffffffffffffffffffffffff",
            "k0_00000000000000000000000000000000",
        ] {
            assert!(decode_cursor(edge).is_ok(), "{edge}");
        }
    }

    #[test]
    fn in_memory_pages_cover_everything_once() {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = ListQuery {
                limit: Some(3),
                cursor: cursor.clone(),
            };
            let (items, next) = page_in_memory((0..10).collect::<Vec<_>>(), &q.page().unwrap());
            seen.extend(items);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }
}
