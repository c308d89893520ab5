//! Request parsing shared by every handler: JSON bodies, query strings and path parameters
//! answer problem+json when they do not parse; list pagination; running blocking work.

use crate::error::ApiError;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
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
    pub cursor: Option<String>,
}

#[derive(serde::Serialize, Deserialize)]
#[serde(untagged)]
enum CursorData {
    Key { t: DateTime<Utc>, i: Uuid },
    Position { p: i64 },
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

pub fn encode_cursor(after: &After) -> String {
    let data = match after {
        After::Key { at, id } => CursorData::Key { t: *at, i: *id },
        After::Position(p) => CursorData::Position { p: *p },
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).unwrap_or_default())
}

fn decode_cursor(raw: &str) -> Result<After, ApiError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<CursorData>(&bytes).ok())
        .map(|c| match c {
            CursorData::Key { t, i } => After::Key { at: t, id: i },
            CursorData::Position { p } => After::Position(p),
        })
        .ok_or_else(|| {
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
    let start = match page.after {
        Some(After::Position(p)) => usize::try_from(p).unwrap_or(0),
        _ => 0,
    };
    let limit = page.limit() as usize;
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next =
        (start + limit < total).then(|| encode_cursor(&After::Position((start + limit) as i64)));
    (items, next)
}

/// Runs blocking work (database calls) off the async workers.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    web::block(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        ApiError::internal()
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let after = After::Key {
            at: Utc::now(),
            id: Uuid::new_v4(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&after)).unwrap(), after);
        let after = After::Position(42);
        assert_eq!(decode_cursor(&encode_cursor(&after)).unwrap(), after);
        assert!(decode_cursor("not-a-cursor").is_err());
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
