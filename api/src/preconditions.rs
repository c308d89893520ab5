//! `If-Match` on PATCH (API.md): `*` or one entity tag as `ETag` answers it; anything else
//! is a bad request (400), a well-formed tag of another version a failed precondition (412).

use crate::error::ApiError;
use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;
use domain::Localized;

/// What `If-Match` asks for: any version (`*`) or one version (`"7"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Any,
    Version(i64),
}

impl Expected {
    /// Whether a resource at `version` satisfies it.
    pub fn matches(self, version: i64) -> bool {
        match self {
            Expected::Any => true,
            Expected::Version(v) => v == version,
        }
    }
}

/// Reads `If-Match` (quotes optional around the digits).
pub fn if_match(req: &HttpRequest) -> Result<Option<Expected>, ApiError> {
    let Some(raw) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let parsed = raw.to_str().ok().map(str::trim).and_then(|v| {
        if v == "*" {
            return Some(Expected::Any);
        }
        let digits = match v.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"')?,
            None => v,
        };
        (!digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok().map(Expected::Version))
            .flatten()
    });
    parsed.map(Some).ok_or_else(|| {
        ApiError::invalid(
            "If-Match",
            Localized::new(
                "must be * or an ETag this service answered, such as \"2\"",
                "doit valoir * ou un ETag renvoyé par ce service, comme \"2\"",
            ),
        )
    })
}

/// 412: the resource moved since the client read it.
pub fn failed(detail: Localized) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        detail,
    )
}

/// The `ETag` of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}
