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
    /// The request's path: which occurrence this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
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
        (name = "events", description = "An organization's changes as they happen: a live stream (Server-Sent Events)"),
        (name = "webhooks", description = "A partner's signed webhooks (Standard Webhooks): subscriptions and their deliveries"),
    ),
    components(
        schemas(
            Problem, FieldError, text::DisplayName, text::Reason, text::CatalogText, text::Reference, text::Email, text::Domain,
            text::TypeCode, text::Cursor, text::EntityTag, text::EventPosition, text::IdempotencyKey, text::EntryKinds, text::Direction,
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
        .try_it_out_enabled(false)
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
        if let Some(post) = item.post.as_mut() {
            // Every POST takes an Idempotency-Key: still running (409), used with another
            // request (422).
            for (status, name) in [("409", "Conflict"), ("422", "Unprocessable")] {
                post.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            }
        }
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

/// The name of every operation, for the clients generated from the document
/// (`openapi-typescript`, `openapi-python-client`…): unique and descriptive. A test checks
/// that every operation of the served document is named here and no name is used twice.
pub const OPERATION_IDS: &[(&str, &str, &str)] = &[
    ("get", "/api/v1/me", "getMe"),
    ("get", "/api/v1/benefit-types", "listBenefitTypes"),
    ("post", "/api/v1/benefit-types", "addBenefitType"),
    (
        "get",
        "/api/v1/organizations/{org_id}/events",
        "streamOrganizationEvents",
    ),
    ("post", "/api/v1/partners/me/webhooks", "subscribeWebhook"),
    ("get", "/api/v1/partners/me/webhooks", "listMyWebhooks"),
    (
        "delete",
        "/api/v1/partners/me/webhooks/{webhook_id}",
        "unsubscribeWebhook",
    ),
    (
        "get",
        "/api/v1/partners/me/webhooks/{webhook_id}/deliveries",
        "listWebhookDeliveries",
    ),
    ("post", "/api/v1/organizations", "createOrganization"),
    ("get", "/api/v1/organizations/{org_id}", "getOrganization"),
    (
        "patch",
        "/api/v1/organizations/{org_id}",
        "updateOrganization",
    ),
    ("get", "/api/v1/partners/{partner_id}", "getPartner"),
    ("patch", "/api/v1/partners/{partner_id}", "updatePartner"),
    (
        "get",
        "/api/v1/organizations/{org_id}/accounts",
        "listAccounts",
    ),
    (
        "post",
        "/api/v1/organizations/{org_id}/accounts",
        "createAccount",
    ),
    (
        "get",
        "/api/v1/organizations/{org_id}/audit-events",
        "listAuditEvents",
    ),
    (
        "get",
        "/api/v1/organizations/{org_id}/notifications",
        "listNotifications",
    ),
    (
        "get",
        "/api/v1/organizations/{org_id}/partner-permissions",
        "listOrganizationPermissions",
    ),
    ("post", "/api/v1/partners", "createPartner"),
    (
        "get",
        "/api/v1/partners/me/organizations",
        "listMyOrganizations",
    ),
    (
        "get",
        "/api/v1/partners/me/permissions",
        "listMyPermissions",
    ),
    (
        "get",
        "/api/v1/accounts/{account_id}/benefits",
        "listAccountBenefits",
    ),
    (
        "post",
        "/api/v1/accounts/{account_id}/benefits",
        "grantBenefit",
    ),
    (
        "get",
        "/api/v1/accounts/{account_id}/benefits/other",
        "listOtherBenefits",
    ),
    (
        "get",
        "/api/v1/accounts/{account_id}/conversions",
        "listConversions",
    ),
    (
        "post",
        "/api/v1/accounts/{account_id}/conversions",
        "convertBenefits",
    ),
    (
        "get",
        "/api/v1/accounts/{account_id}/conversions/quote",
        "quoteConversion",
    ),
    (
        "get",
        "/api/v1/accounts/{account_id}/domains",
        "listDomains",
    ),
    ("post", "/api/v1/accounts/{account_id}/domains", "addDomain"),
    (
        "delete",
        "/api/v1/accounts/{account_id}/domains/{domain}",
        "removeDomain",
    ),
    ("get", "/api/v1/benefits/{benefit_id}", "getBenefit"),
    (
        "post",
        "/api/v1/benefits/{benefit_id}/adjustments",
        "adjustBenefit",
    ),
    (
        "get",
        "/api/v1/benefits/{benefit_id}/calculation",
        "getBenefitCalculation",
    ),
    (
        "post",
        "/api/v1/benefits/{benefit_id}/consumptions",
        "consumeBenefit",
    ),
    (
        "get",
        "/api/v1/benefits/{benefit_id}/downloads",
        "listDownloads",
    ),
    (
        "post",
        "/api/v1/benefits/{benefit_id}/downloads",
        "recordDownload",
    ),
    (
        "get",
        "/api/v1/benefits/{benefit_id}/product-keys",
        "listProductKeys",
    ),
    (
        "get",
        "/api/v1/benefits/{benefit_id}/transactions",
        "listTransactions",
    ),
    (
        "get",
        "/api/v1/benefits/{benefit_id}/transactions/export",
        "exportTransactions",
    ),
    (
        "get",
        "/api/v1/benefits/{benefit_id}/users",
        "listBenefitUsers",
    ),
    (
        "post",
        "/api/v1/benefits/{benefit_id}/users",
        "addBenefitUser",
    ),
    (
        "patch",
        "/api/v1/benefits/{benefit_id}/users/{user_id}",
        "updateBenefitUser",
    ),
    (
        "delete",
        "/api/v1/benefits/{benefit_id}/users/{user_id}",
        "removeBenefitUser",
    ),
    (
        "post",
        "/api/v1/benefits/{benefit_id}/users/{user_id}/access-code",
        "sendAccessCode",
    ),
    (
        "post",
        "/api/v1/benefits/{benefit_id}/users/{user_id}/resend-instructions",
        "resendInstructions",
    ),
    (
        "get",
        "/api/v1/benefits/{benefit_id}/vouchers",
        "listVouchers",
    ),
    (
        "post",
        "/api/v1/benefits/{benefit_id}/vouchers",
        "assignVoucher",
    ),
    (
        "post",
        "/api/v1/vouchers/{voucher_id}/revoke",
        "revokeVoucher",
    ),
    (
        "post",
        "/api/v1/vouchers/{voucher_id}/redeem",
        "redeemVoucher",
    ),
    ("post", "/api/v1/partner-permissions", "requestPermission"),
    (
        "get",
        "/api/v1/partner-permissions/{permission_id}",
        "getPermission",
    ),
    (
        "patch",
        "/api/v1/partner-permissions/{permission_id}",
        "decidePermission",
    ),
    (
        "get",
        "/api/v1/partner-permissions/{permission_id}/history",
        "listPermissionHistory",
    ),
];

/// A closed set of values (a status, a kind…) as a named `enum` schema, with the schema
/// properties that take it, so generated clients get unions and exhaustive checks. The
/// values come from the domain's own lists, so the document cannot drift from the code.
#[derive(Debug, Clone)]
pub struct ClosedSet {
    pub name: &'static str,
    pub description: &'static str,
    pub values: Vec<&'static str>,
    /// `(schema, property)` pairs whose value is one of the set (or an array of them).
    pub used_by: Vec<(&'static str, &'static str)>,
}

/// What the document's path parameters are given as examples: the demo's resources, so that
/// Swagger UI's "Try it out" works on a server that filled the demo.
#[derive(Debug, Clone, Default)]
pub struct Examples {
    /// An example by parameter name.
    pub by_name: Vec<(&'static str, String)>,
    /// An example for a parameter of the paths that start with a prefix (checked first).
    pub by_path: Vec<(&'static str, &'static str, String)>,
}

impl Examples {
    fn of(&self, path: &str, name: &str) -> Option<&str> {
        self.by_path
            .iter()
            .find(|(prefix, param, _)| path.starts_with(prefix) && *param == name)
            .map(|(_, _, v)| v.as_str())
            .or_else(|| {
                self.by_name
                    .iter()
                    .find(|(param, _)| *param == name)
                    .map(|(_, v)| v.as_str())
            })
    }
}

/// The last touches that generated clients and Swagger UI need: a `servers` entry, the
/// operation names of [`OPERATION_IDS`], `Accept-Language` on every operation, and an example
/// on every path parameter. Done on the JSON form, where utoipa has no builder for them.
pub fn refine(
    document: &mut utoipa::openapi::OpenApi,
    examples: &Examples,
    closed_sets: &[ClosedSet],
) -> Result<(), serde_json::Error> {
    use serde_json::json;
    let mut json = serde_json::to_value(&*document)?;
    json["components"]["schemas"]["Email"]["pattern"] = json!(text::EMAIL_PATTERN);
    json["components"]["schemas"]["Domain"]["pattern"] = json!(text::DOMAIN_PATTERN);
    for set in closed_sets {
        json["components"]["schemas"][set.name] = json!({
            "type": "string",
            "description": set.description,
            "enum": set.values,
            "example": set.values.first(),
        });
        let reference = json!({ "$ref": format!("#/components/schemas/{}", set.name) });
        for (schema, property) in &set.used_by {
            let field = &mut json["components"]["schemas"][*schema]["properties"][*property];
            if field.is_null() {
                continue; // a test checks that every pair names a real property
            }
            let description = field.get("description").cloned();
            let types: Vec<&str> = match field.get("type") {
                Some(serde_json::Value::String(t)) => vec![t.as_str()],
                Some(serde_json::Value::Array(ts)) => {
                    ts.iter().filter_map(|t| t.as_str()).collect()
                }
                _ => vec![],
            };
            let nullable = types.contains(&"null");
            let mut typed = match (types.contains(&"array"), nullable) {
                (true, false) => json!({ "type": "array", "items": reference.clone() }),
                (true, true) => json!({ "type": ["array", "null"], "items": reference.clone() }),
                (false, true) => json!({ "oneOf": [reference.clone(), { "type": "null" }] }),
                (false, false) => reference.clone(),
            };
            if let Some(description) = description {
                typed["description"] = description;
            }
            *field = typed;
        }
    }
    json["servers"] = json!([{
        "url": "/",
        "description": "The server that serves this document (paths start with /api/v1)"
    }]);
    // Inline on each operation: utoipa's operations hold parameters, not references.
    let accept_language = json!({
        "name": "Accept-Language",
        "in": "header",
        "required": false,
        "description": "`fr` for French names, descriptions, instructions, labels and messages; English otherwise. The answer says which in `Content-Language`.",
        "schema": { "type": "string" },
        "example": "fr"
    });
    if let Some(paths) = json["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                    continue;
                }
                if let Some((_, _, id)) = OPERATION_IDS
                    .iter()
                    .find(|(m, p, _)| m == method && p == path)
                {
                    operation["operationId"] = json!(id);
                }
                let parameters = operation
                    .as_object_mut()
                    .map(|o| o.entry("parameters").or_insert_with(|| json!([])));
                let Some(serde_json::Value::Array(parameters)) = parameters else {
                    continue;
                };
                for parameter in parameters.iter_mut() {
                    if parameter["in"] == "path" {
                        let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                        if let Some(example) = examples.of(path, &name) {
                            parameter["example"] = json!(example);
                        }
                    }
                }
                parameters.push(accept_language.clone());
                // Every POST honours an Idempotency-Key (API.md), so every POST declares it.
                if method == "post" && !parameters.iter().any(|p| p["name"] == "Idempotency-Key") {
                    parameters.push(json!({
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": false,
                        "description": "1 to 255 visible ASCII characters; the same key and body within 24 h replay the first answer (`Idempotent-Replayed: true`)",
                        "schema": { "$ref": "#/components/schemas/IdempotencyKey" }
                    }));
                }
            }
        }
    }
    *document = serde_json::from_value(json)?;
    Ok(())
}
