//! CORS (API.md "Browsers"): with `CORS_ALLOWED_ORIGINS` unset, pages served from loopback
//! (`http://localhost:<port>`, `http://127.0.0.1:<port>`, `http://[::1]:<port>`) may call the
//! API, as a front end under development does; once set, exactly the origins it lists (`*`
//! for any). A refused origin gets problem+json `cors_refused` (see `context`).

use actix_cors::Cors;
use actix_web::http::header::{self, HeaderName};

/// Whether an `Origin` is a page served from this machine.
pub fn is_loopback_origin(origin: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, port)) if port.is_empty() || is_port(port) => host,
            _ => return false,
        },
        None => match rest.split_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return false,
            None => rest,
        },
    };
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

fn is_port(text: &str) -> bool {
    text.strip_prefix(':')
        .unwrap_or(text)
        .parse::<u16>()
        .is_ok()
}

pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::ACCEPT_LANGUAGE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::CONTENT_LANGUAGE,
            header::CONTENT_DISPOSITION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(3600);
    if origins.is_empty() {
        return cors.allowed_origin_fn(|origin, _| is_loopback_origin(origin.as_bytes()));
    }
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins() {
        for ok in [
            "http://localhost:5173",
            "http://127.0.0.1:3000",
            "http://[::1]:8080",
            "http://localhost",
            "https://localhost:8443",
        ] {
            assert!(is_loopback_origin(ok.as_bytes()), "{ok}");
        }
        for refused in [
            "http://localhost.evil.example:5173",
            "http://127.0.0.2:80",
            "https://portal.example.com",
            "null",
            "http://localhost:99999",
            "http://localhost:5173@evil.example",
        ] {
            assert!(!is_loopback_origin(refused.as_bytes()), "{refused}");
        }
    }
}
