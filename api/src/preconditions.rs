//! `If-Match` on PATCH, as RFC 9110 §13.1.1 says: `*`, or a list of entity tags of which
//! one must match the current version by strong comparison (a weak tag `W/"7"` never
//! matches). A header that is neither is a bad request (400); a well-formed list that names
//! no current version is a failed precondition (412).

use crate::error::ApiError;
use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;
use domain::Localized;

/// What `If-Match` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// `*`: any current version.
    Any,
    /// One of these versions (weak tags are left out: they never match).
    OneOf(Vec<i64>),
}

impl Expected {
    /// Whether a resource at `version` satisfies it.
    pub fn matches(&self, version: i64) -> bool {
        match self {
            Expected::Any => true,
            Expected::OneOf(versions) => versions.contains(&version),
        }
    }
}

/// One entity tag of the list: `Some(version)` for a strong tag, `None` for a weak one.
fn tag(text: &str) -> Result<Option<i64>, ()> {
    let (weak, text) = match text.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    // The quotes are optional here (clients that drop them are understood).
    let opaque = match text.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"').ok_or(())?,
        None => text,
    };
    // A representation in another language than English carries its language (`"7.fr"`):
    // the same version of the resource.
    let digits = match opaque.split_once('.') {
        Some((digits, language)) if domain::Language::ALL.iter().any(|l| l.code() == language) => {
            digits
        }
        Some(_) => return Err(()),
        None => opaque,
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    let version = digits.parse().map_err(|_| ())?;
    Ok((!weak).then_some(version))
}

/// Reads `If-Match`.
pub fn if_match(req: &HttpRequest) -> Result<Option<Expected>, ApiError> {
    let Some(raw) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    parse(raw.to_str().unwrap_or("\u{0}"))
        .map(Some)
        .map_err(|()| {
            ApiError::invalid(
                "If-Match",
                Localized::new(
                    "must be * or a list of ETags this service answered, such as \"2\"",
                    "doit valoir * ou une liste d'ETag renvoyés par ce service, comme \"2\"",
                ),
            )
        })
}

fn parse(value: &str) -> Result<Expected, ()> {
    let value = value.trim();
    if value == "*" {
        return Ok(Expected::Any);
    }
    let mut versions = Vec::new();
    for part in value.split(',') {
        if let Some(version) = tag(part.trim())? {
            versions.push(version);
        }
    }
    Ok(Expected::OneOf(versions))
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

/// The `ETag` of a version's representation in `language`: `"7"` in English, `"7.fr"` in
/// French, so a cache never takes one language's copy for the other's; `If-Match` takes
/// either as version 7.
pub fn etag_in(tag: &str, language: domain::Language) -> String {
    match (language, tag.strip_suffix('"')) {
        (domain::Language::En, _) | (_, None) => tag.to_owned(),
        (other, Some(open)) if !open.contains('.') => format!("{open}.{}\"", other.code()),
        _ => tag.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_stars_and_weak_tags() {
        assert_eq!(parse("*"), Ok(Expected::Any));
        assert_eq!(parse("\"7\""), Ok(Expected::OneOf(vec![7])));
        assert_eq!(parse("7"), Ok(Expected::OneOf(vec![7])));
        assert_eq!(parse("\"1\", \"7\""), Ok(Expected::OneOf(vec![1, 7])));
        assert_eq!(parse("\"7.fr\""), Ok(Expected::OneOf(vec![7])));
        assert_eq!(parse("\"7.xx\""), Err(()));
        let weak = parse("W/\"7\"").unwrap();
        assert!(!weak.matches(7), "a weak tag never matches");
        assert!(parse("W/\"7\", \"8\"").unwrap().matches(8));
        for bad in ["", "abc", "\"7", "\"x\"", "7,", "W/", "\"1\" \"2\""] {
            assert_eq!(parse(bad), Err(()), "{bad:?}");
        }
    }
}
