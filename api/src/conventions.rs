//! The HTTP conventions of API.md that every authenticated answer follows, in one place:
//! `Cache-Control: private, no-cache` (unless the handler chose a stricter one, as product
//! keys do with `no-store`), an `ETag` on every successful GET (the resource's version where
//! it has one, else a digest of the answer), and `304 Not Modified` when `If-None-Match`
//! names it. `Content-Language` and `Vary` are set for every answer in [`crate::context`].

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2: `W/` ignored on
/// both sides; `*` matches any current representation).
pub fn none_match(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let current = opaque(etag);
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .any(|candidate| opaque(candidate) == current)
}

/// A weak entity tag of an answer's bytes: equal bytes, equal tag (weak, because the answer
/// may be compressed on the way).
pub(crate) fn digest_tag(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

pub async fn conventions(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
    let language = req
        .extensions()
        .get::<crate::context::RequestContext>()
        .map_or(domain::Language::En, |c| c.language);
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    // A version's tag names its representation in the answer's language.
    if let Some(tag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok()) {
        let qualified = crate::preconditions::etag_in(tag, language);
        if let Ok(value) = HeaderValue::from_str(&qualified) {
            headers.insert(header::ETAG, value);
        }
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    let streamed = headers.get(header::CONTENT_DISPOSITION).is_some();
    if !is_get || response.status() != StatusCode::OK || streamed {
        return Ok(response);
    }
    // The resource's own version when the handler gave one; else a digest of the answer,
    // which needs the whole body (every JSON answer is built in memory; files are streamed
    // and skipped above).
    let (request, mut answer) = response.into_parts();
    let etag = match answer
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
    {
        Some(tag) => tag.to_owned(),
        None => {
            let (head, body) = answer.into_parts();
            let bytes = match body.try_into_bytes() {
                Ok(bytes) => bytes,
                Err(body) => return Ok(ServiceResponse::new(request, head.set_body(body))),
            };
            let tag = digest_tag(&bytes);
            answer = head.set_body(BoxBody::new(bytes));
            if let Ok(value) = HeaderValue::from_str(&tag) {
                answer.headers_mut().insert(header::ETAG, value);
            }
            tag
        }
    };
    if if_none_match.is_some_and(|inm| none_match(&inm, &etag)) {
        let mut not_modified = HttpResponse::NotModified();
        for name in [
            header::ETAG,
            header::CACHE_CONTROL,
            header::CONTENT_LANGUAGE,
            header::VARY,
        ] {
            if let Some(value) = answer.headers().get(&name) {
                not_modified.insert_header((name.clone(), value.clone()));
            }
        }
        return Ok(ServiceResponse::new(request, not_modified.finish()));
    }
    Ok(ServiceResponse::new(request, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison_over_a_list() {
        assert!(none_match("\"3\"", "\"3\""));
        assert!(none_match("W/\"3\"", "\"3\""));
        assert!(none_match("\"1\", W/\"3\"", "\"3\""));
        assert!(none_match("*", "W/\"ab\""));
        assert!(!none_match("\"4\"", "\"3\""));
        assert!(!none_match("", "\"3\""));
    }

    #[test]
    fn equal_answers_have_equal_tags() {
        assert_eq!(digest_tag(b"{\"a\":1}"), digest_tag(b"{\"a\":1}"));
        assert_ne!(digest_tag(b"{\"a\":1}"), digest_tag(b"{\"a\":2}"));
        assert!(digest_tag(b"x").starts_with("W/\""));
    }
}
