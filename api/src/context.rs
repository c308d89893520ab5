//! Around every request: a request id, the negotiated language, one structured log line,
//! metrics, and the rendering of errors as problem+json in the caller's language.

use crate::error::ApiError;
use crate::metrics::Metrics;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use domain::Language;
use std::future::{ready, Ready};
use std::time::Instant;
use uuid::Uuid;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler may want to know about the request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub language: Language,
    /// The request's path (a problem's `instance`).
    pub path: String,
}

impl RequestContext {
    /// The request's id and path, for a problem document.
    pub fn occurrence(&self) -> Option<(&str, &str)> {
        Some((&self.request_id, &self.path))
    }
}

fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned)
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let context = RequestContext {
        request_id: request_id(&req),
        language: req
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(Language::negotiate)
            .unwrap_or_default(),
        path: req.path().chars().take(512).collect(),
    };
    req.extensions_mut().insert(context.clone());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().clone();

    // Every event logged while this request is served (in blocking work too) carries its id.
    let span = tracing::info_span!("request", request_id = %context.request_id);
    let outcome = tracing::Instrument::instrument(next.call(req), span).await;
    let (mut response, route) = match outcome {
        Ok(response) => {
            let route = response.request().match_pattern();
            let response = match response
                .response()
                .error()
                .and_then(|e| e.as_error::<ApiError>())
                .cloned()
            {
                Some(api_error) => {
                    let (req, _) = response.into_parts();
                    ServiceResponse::new(
                        req,
                        api_error.render(context.language, context.occurrence()),
                    )
                }
                None if is_bare_error(response.response()) => {
                    // An error the framework answered itself: as problem+json too.
                    let error = response.response().error();
                    let cors = error
                        .and_then(|e| e.as_error::<actix_cors::CorsError>())
                        .is_some();
                    let detail = error.map(ToString::to_string);
                    let problem = ApiError::framework(
                        response.status(),
                        cors.then_some("cors_refused"),
                        detail,
                    );
                    let (req, _) = response.into_parts();
                    ServiceResponse::new(
                        req,
                        problem.render(context.language, context.occurrence()),
                    )
                }
                None => response.map_into_boxed_body(),
            };
            (Ok(response), route)
        }
        // A middleware (authentication, CORS) refused: the error carries the response.
        Err(error) => {
            let rendered = match error.as_error::<ApiError>() {
                Some(api_error) => api_error.render(context.language, context.occurrence()),
                None => {
                    let cors = error.as_error::<actix_cors::CorsError>().is_some();
                    ApiError::framework(
                        error.as_response_error().status_code(),
                        cors.then_some("cors_refused"),
                        Some(error.to_string()),
                    )
                    .render(context.language, context.occurrence())
                }
            };
            (Err((error.to_string(), rendered)), None)
        }
    };
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let status = match &mut response {
        Ok(r) => {
            insert_common(r.headers_mut(), &context);
            r.status()
        }
        Err((_, r)) => {
            insert_common(r.headers_mut(), &context);
            r.status()
        }
    };
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe(method.as_str(), &route, status.as_u16(), elapsed);
    }
    let millis = elapsed.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(request_id = %context.request_id, method = %method, path = %context.path, route = %route, status = status.as_u16(), millis, "request");
    } else {
        tracing::info!(request_id = %context.request_id, method = %method, path = %context.path, route = %route, status = status.as_u16(), millis, "request");
    }
    response.map_err(|(message, rendered)| InternalError::from_response(message, rendered).into())
}

/// An error answer that is not problem+json (the framework's own: a method not allowed by
/// a route, a refusal of a middleware).
fn is_bare_error<B>(response: &actix_web::HttpResponse<B>) -> bool {
    (response.status().is_client_error() || response.status().is_server_error())
        && !response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/problem+json"))
}

/// What every answer carries: its request id, its language, and that it varies with
/// `Accept-Language`.
fn insert_common(headers: &mut header::HeaderMap, context: &RequestContext) {
    if let Ok(value) = HeaderValue::from_str(&context.request_id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(context.language.code()),
    );
    let vary = headers
        .get_all(header::VARY)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect::<Vec<_>>();
    if !vary
        .iter()
        .any(|v| v.eq_ignore_ascii_case("accept-language") || v == "*")
    {
        let mut all = vary;
        all.push("Accept-Language".to_owned());
        if let Ok(value) = HeaderValue::from_str(&all.join(", ")) {
            headers.insert(header::VARY, value);
        }
    }
}

impl FromRequest for RequestContext {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(req
            .extensions()
            .get::<RequestContext>()
            .cloned()
            .unwrap_or(RequestContext {
                request_id: Uuid::new_v4().to_string(),
                language: Language::En,
                path: req.path().to_owned(),
            })))
    }
}
