//! Software benefits (Global Service Monitor, Office Multi-Language Pack, Windows Thin PC):
//! the packages to download, recorded downloads (one unit each), and product keys (every
//! view is audited).

use crate::access::{acting_on_benefit, benefit_for};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::blocking;
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::downloads;
use crate::views::LedgerChange;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use domain::auth::Action;
use domain::catalog::Software;
use domain::ids::BenefitId;
use domain::Language;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A downloadable package.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "wtp-x86-en", "name": "Windows Thin PC (x86), English", "version": "2011 SP1",
    "language": "en", "size_mb": 2300, "needs_product_key": true,
    "download_url": "https://www.microsoft.com/Licensing/servicecenter/Downloads/DownloadsAndKeys.aspx"}))]
pub struct SoftwareView {
    /// Pass as `software_id` to record a download.
    pub id: String,
    pub name: String,
    pub version: String,
    pub language: String,
    pub size_mb: u32,
    pub needs_product_key: bool,
    /// Where to download it (signed in with the organization's account).
    pub download_url: String,
}

impl SoftwareView {
    /// The package as `language`'s reader sees it.
    pub fn of(s: &Software, language: Language) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.get(language).to_owned(),
            version: s.version.clone(),
            language: s.language.clone(),
            size_mb: s.size_mb,
            needs_product_key: s.keyed,
            download_url: s.download_url().to_owned(),
        }
    }
}

/// The downloads of a benefit.
#[derive(Serialize, ToSchema)]
pub struct DownloadList {
    pub items: Vec<SoftwareView>,
    /// Downloads that can still be recorded.
    pub remaining: Option<i64>,
    pub next_cursor: Option<String>,
}

/// A download to record.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"software_id": "wtp-x86-en"}))]
pub struct RecordDownload {
    pub software_id: String,
}

/// A recorded download.
#[derive(Serialize, ToSchema)]
pub struct DownloadView {
    pub software: SoftwareView,
    /// The ledger entry and the figures after it.
    pub change: LedgerChange,
}

/// A product key.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"software_id": "wtp-x86-en", "name": "Windows Thin PC (x86), English",
    "product_key": "7QKBM-3XWJD-P2V8T-RH4G6-CY9FK"}))]
pub struct ProductKeyView {
    pub software_id: String,
    pub name: String,
    pub product_key: String,
}

/// The product keys of a benefit.
#[derive(Serialize, ToSchema)]
pub struct ProductKeyList {
    pub items: Vec<ProductKeyView>,
    pub next_cursor: Option<String>,
}

/// Downloadable software
///
/// The packages of a software benefit (an empty list for other types) and how many downloads
/// remain. Customer administrators, partners with `downloads_and_product_keys`, operators.
#[utoipa::path(
    tag = "downloads",
    params(("benefit_id" = Uuid, Path, description = "The benefit")),
    responses(
        (status = 200, description = "The packages", body = DownloadList),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/benefits/{benefit_id}/downloads")]
pub async fn list(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
) -> Result<web::Json<DownloadList>, ApiError> {
    let id = BenefitId(path.into_inner());
    let catalog = state.catalog();
    let (held, _) =
        blocking(move || benefit_for(&state, &caller, id, Action::ListDownloads)).await?;
    let packages = catalog
        .get(&held.benefit.type_code)
        .map(|t| t.software.as_slice())
        .unwrap_or_default();
    Ok(web::Json(DownloadList {
        items: packages
            .iter()
            .map(|s| SoftwareView::of(s, context.language))
            .collect(),
        remaining: held.benefit.remaining(),
        next_cursor: None,
    }))
}

/// Record a download
///
/// One download of a package consumes one unit; refused with 422 when none remain
/// (`not_enough_remaining`), the benefit has expired, the package is not the benefit's
/// (`unknown_software`) or the benefit has no downloads (`no_downloads`). Customer
/// administrators and partners with `downloads_and_product_keys`. Send an `Idempotency-Key`
/// to retry safely.
#[utoipa::path(
    tag = "downloads",
    params(
        ("benefit_id" = Uuid, Path, description = "The benefit"),
        ("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, nullable = false, description = "1 to 255 visible ASCII characters; replays the first answer for 24 h"),
    ),
    request_body = RecordDownload,
    responses(
        (status = 201, description = "Recorded", body = DownloadView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/benefits/{benefit_id}/downloads")]
pub async fn record(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    body: web::Json<RecordDownload>,
) -> Result<HttpResponse, ApiError> {
    let id = BenefitId(path.into_inner());
    let actor = acting_on_benefit(&state, &caller, id, Action::UseDownloads).await?;
    let (catalog, language) = (state.catalog(), context.language);
    let body = body.into_inner();
    let software = body.software_id.clone();
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, now| {
        let (package, entry) = downloads::record(tx, &catalog, &actor, id, &software, now)?;
        let view = DownloadView {
            software: SoftwareView::of(&package, language),
            change: LedgerChange::new(&entry, language),
        };
        idempotency::stored(StatusCode::CREATED, &[], &view)
    })
    .await
}

/// Product keys
///
/// The keys of the benefit's packages that need one, issued at the first view. Every view is
/// written to the audit log. Customer administrators and partners with
/// `downloads_and_product_keys`; 422 `no_product_keys` for a benefit without keys.
#[utoipa::path(
    tag = "downloads",
    params(("benefit_id" = Uuid, Path, description = "The benefit")),
    responses(
        (status = 200, description = "The keys", body = ProductKeyList),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[get("/benefits/{benefit_id}/product-keys")]
pub async fn product_keys(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = BenefitId(path.into_inner());
    let language = context.language;
    let keys = blocking(move || downloads::product_keys(&state, &caller, id)).await?;
    let keys = keys
        .iter()
        .map(|k| ProductKeyView {
            software_id: k.package.id.clone(),
            name: k.package.name.get(language).to_owned(),
            product_key: k.key.clone(),
        })
        .collect();
    // Secrets: never kept by a cache, the browser's included.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ProductKeyList {
            items: keys,
            next_cursor: None,
        }))
}
