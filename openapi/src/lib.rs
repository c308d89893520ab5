//! The published contract of SA Benefits: the parts of the OpenAPI document every operation
//! shares (info, tags, Bearer security, the one error schema and the error responses), and
//! Swagger UI. The operations themselves are documented next to their handlers in `api`.
//! `openapi/openapi.json` is the committed copy of the served document; a test in `tests`
//! fails when the two differ (`sa-benefits openapi > openapi/openapi.json` refreshes it).

use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api-docs/openapi.json";
/// Where Swagger UI is served.
pub const SWAGGER_UI_PATH: &str = "/swagger-ui/";
/// The name of the Bearer security scheme.
pub const BEARER: &str = "bearer";

/// An error, as RFC 9457 `application/problem+json`: every 4xx and 5xx answer has this shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:sa-benefits:problem:not_enough_remaining",
    "title": "Request refused",
    "status": 422,
    "detail": "Not enough remaining: 3 incidents left.",
    "code": "not_enough_remaining",
    "request_id": "5f0c7a52-8a1e-4d1b-9a55-2f1f5f3f0b1e"
}))]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:sa-benefits:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short, human-readable summary of the kind of problem (in the asked language).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence (in the asked language).
    pub detail: String,
    /// Stable snake_case code to match on, e.g. `invalid_token`, `validation_failed`.
    pub code: String,
    /// For validation failures: one entry per invalid field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The id of the request (also in the `x-request-id` header), for support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Facts about the refusal a client can act on (e.g. `remaining`, `allowed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, as a JSON path (`quantity`, `contact_emails[1]`) or a parameter name.
    #[schema(example = "quantity")]
    pub field: String,
    #[schema(example = "must be a whole number from 0 to 1000000000")]
    pub message: String,
}

#[rustfmt::skip]
macro_rules! problem_response {
    ($name:ident, $description:literal, $code:literal, $status:literal, $title:literal, $detail:literal) => {
        #[derive(ToResponse)]
        #[response(description = $description, content_type = "application/problem+json", example = json!({"type": concat!("urn:sa-benefits:problem:", $code), "title": $title, "status": $status, "detail": $detail, "code": $code, "request_id": "5f0c7a52-8a1e-4d1b-9a55-2f1f5f3f0b1e"}))]
        pub struct $name(#[allow(dead_code)] Problem);
    };
}

problem_response!(
    BadRequest,
    "The request is malformed or invalid (see `errors`).",
    "validation_failed",
    400,
    "Invalid request",
    "The request has invalid fields."
);
#[derive(ToResponse)]
#[response(
    description = "Missing, malformed, expired or otherwise invalid Bearer token.",
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer` with the error")),
    example = json!({
        "type": "urn:sa-benefits:problem:invalid_token",
        "title": "Authentication required",
        "status": 401,
        "detail": "The token has expired.",
        "code": "invalid_token"
    })
)]
pub struct Unauthorized(#[allow(dead_code)] Problem);
#[derive(ToResponse)]
#[response(
    description = "Over `RATE_LIMIT_PER_MINUTE` requests a minute for this principal (or this client address without a valid token; 1,200 by default). Retry after `Retry-After` seconds.",
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait before the next request is accepted")),
    example = json!({
        "type": "urn:sa-benefits:problem:rate_limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "Too many requests: retry in 3 s.",
        "code": "rate_limited"
    })
)]
pub struct TooManyRequests(#[allow(dead_code)] Problem);
problem_response!(
    Forbidden,
    "The caller's role may never do this, or the partner permission lacks the scope.",
    "forbidden",
    403,
    "Forbidden",
    "This action is reserved to operators."
);
problem_response!(
    NotFound,
    "No such resource, or it belongs to another organization.",
    "not_found",
    404,
    "Not found",
    "No organization with this id."
);
problem_response!(
    Conflict,
    "The resource's state does not allow this (duplicate, invalid transition, request in flight).",
    "conflict",
    409,
    "Conflict",
    "The account already holds an unexpired benefit of this type."
);
problem_response!(
    PreconditionFailed,
    "`If-Match` does not match the current `ETag`.",
    "precondition_failed",
    412,
    "Precondition failed",
    "The resource has changed since it was read."
);
problem_response!(
    PayloadTooLarge,
    "The body is over 64 KiB.",
    "payload_too_large",
    413,
    "Payload too large",
    "The request body is over 65536 bytes."
);
problem_response!(
    UnsupportedMediaType,
    "The body is not `application/json`.",
    "unsupported_media_type",
    415,
    "Unsupported media type",
    "Send the body as application/json."
);
problem_response!(
    Unprocessable,
    "A business rule refused the request (not enough remaining, unmetered benefit, …).",
    "not_enough_remaining",
    422,
    "Request refused",
    "Not enough remaining: 3 incidents left."
);

/// The shared parts of the document. The `api` crate adds the operations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "SA Benefits API",
        description = "Software Assurance benefits of volume-licensing customers: entitlements and what is used and left, the people and e-mail domains that receive benefits, training vouchers, the 3:1 Training Vouchers → Planning Services conversion, and the permissions a customer grants its licensing partner.\n\n**Authentication**: every `/api/v1` call takes `Authorization: Bearer <JWT>`. `sa-benefits serve` prints ready demo tokens; paste one into **Authorize**.\n\n**Errors** are `application/problem+json` (RFC 9457) with a stable `code`.\n\n**Language**: `Accept-Language: fr` answers in French; English by default.\n\n**Lists** take `limit` (1–200, default 50) and an opaque `cursor`, and answer `{items, next_cursor}`.",
        license(name = "MIT", identifier = "MIT"),
        contact(name = "SA Benefits team")
    ),
    tags(
        (name = "catalog", description = "The benefit types"),
        (name = "organizations", description = "Customer organizations and their purchasing accounts"),
        (name = "partners", description = "Licensing partners"),
        (name = "benefits", description = "Benefits of a purchasing account: figures, status, alerts"),
        (name = "ledger", description = "Consumptions, adjustments, the calculation view and the transaction history of a benefit"),
        (name = "partner-permissions", description = "What a customer lets its licensing partner do on its behalf: requests, decisions, history"),
        (name = "vouchers", description = "Training vouchers: assign, revoke, redeem; expiry after 180 days"),
        (name = "conversions", description = "Training Vouchers ⇄ Planning Services at 3 training days per planning day"),
        (name = "people", description = "Authorized e-mail domains and the users of benefits: instructions and access codes by e-mail"),
        (name = "downloads", description = "Software benefits: packages, recorded downloads, product keys"),
        (name = "records", description = "The audit log and the outbox of notifications of an organization"),
    ),
    components(
        schemas(
            Problem, FieldError, text::DisplayName, text::Reason, text::Reference, text::Email, text::Domain,
            text::TypeCode, text::Cursor, text::EntityTag, text::IdempotencyKey, text::EntryKinds, text::Direction,
            text::PermissionMove, text::PermissionStatus, text::Scope
        ),
        responses(BadRequest, Unauthorized, TooManyRequests, Forbidden, NotFound, Conflict, PreconditionFailed, PayloadTooLarge, UnsupportedMediaType, Unprocessable)
    ),
    modifiers(&BearerSecurity),
    security(("bearer" = []))
)]
pub struct ApiDoc;

pub mod text;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_owned());
        http.description = Some(
            "A JWT with `sub`, `role` (customer_admin | partner | operator), `org` or `partner_id`, `iss`, `aud`, `exp`, `iat`.".to_owned(),
        );
        components.add_security_scheme(BEARER, SecurityScheme::Http(http));
    }
}

/// Swagger UI at `/swagger-ui/`, reading the document at `/api-docs/openapi.json`, with its
/// Authorize button keeping the token across reloads.
pub fn swagger_ui(document: utoipa::openapi::OpenApi) -> SwaggerUi {
    let config = utoipa_swagger_ui::Config::new([DOCUMENT_PATH])
        .persist_authorization(true)
        .try_it_out_enabled(true)
        .display_request_duration(true);
    SwaggerUi::new("/swagger-ui/{_:.*}")
        .url(DOCUMENT_PATH, document)
        .config(config)
}

/// `/swagger-ui` without the slash redirects to `/swagger-ui/`.
pub async fn swagger_ui_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header(("Location", SWAGGER_UI_PATH))
        .finish()
}

/// The committed document, `openapi/openapi.json`.
pub fn committed_document() -> &'static str {
    include_str!("../openapi.json")
}

/// The path of the committed document in the source tree, for refreshing it.
pub fn committed_document_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

problem_response!(
    InternalError,
    "Something failed on the server; the body never contains internal details.",
    "internal_error",
    500,
    "Internal error",
    "Something went wrong on our side. Retry later; quote the request id to support."
);

/// Adds the error responses every operation can give, so no operation forgets one: 401, 429
/// and 500 everywhere, 400 where there are parameters or a body, 413 and 415 where there is a body.
pub fn complete(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Ref, RefOr};
    if let Some(components) = document.components.as_mut() {
        components.responses.insert(
            "InternalError".to_owned(),
            <InternalError as ToResponse>::response().1,
        );
    }
    for item in document.paths.paths.values_mut() {
        for operation in [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            let has_body = operation.request_body.is_some();
            let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut add = |status: &str, name: &str| {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            };
            if has_body || has_params {
                add("400", "BadRequest");
            }
            add("401", "Unauthorized");
            add("429", "TooManyRequests");
            if has_body {
                add("413", "PayloadTooLarge");
                add("415", "UnsupportedMediaType");
            }
            add("500", "InternalError");
        }
    }
}
