//! Software benefits (Global Service Monitor, Office Multi-Language Pack, Windows Thin PC):
//! the packages to download, recorded downloads (one unit each), and product keys (every
//! view is audited).

use crate::access::{benefit_for, Resource};
use crate::audit;
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::blocking;
use crate::idempotency;
use crate::state::AppState;
use crate::views::LedgerChange;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::Action;
use domain::catalog::Software;
use domain::ids::BenefitId;
use domain::people::{self, PeopleError};
use domain::{Language, Localized};
use rand::RngExt;
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

fn new_product_key() -> String {
    const ALPHABET: &[u8] = b"BCDFGHJKMPQRTVWXY2346789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| {
            (0..5)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
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
    let actor = {
        let (state, caller) = (state.clone(), caller.clone());
        blocking(move || benefit_for(&state, &caller, id, Action::UseDownloads)).await?
    }
    .1;
    let catalog = state.catalog();
    let software = body.software_id.clone();
    idempotency::run(
        &state,
        &req,
        &caller,
        &context,
        &body.into_inner(),
        move |tx, now| {
            let held = tx
                .benefit(id)?
                .ok_or_else(|| Resource::Benefit.not_found())?;
            let benefit_type = catalog
                .get(&held.benefit.type_code)
                .ok_or_else(ApiError::internal)?;
            let (package, entry) =
                people::record_download(tx, benefit_type, &held.benefit, &software, &actor, now)
                    .map_err(ApiError::from)?;
            tx.audit(&audit::on_account(
                &actor,
                &held.account,
                AuditAction::DownloadRecorded,
                TargetKind::Benefit.target(id.as_uuid()),
                Some(Localized::same(package.id.clone())),
                now,
            ))?;
            idempotency::stored(
                StatusCode::CREATED,
                &[],
                &DownloadView {
                    software: SoftwareView::of(&package, context.language),
                    change: LedgerChange::new(&entry, context.language),
                },
            )
        },
    )
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
    let keys = blocking(move || {
        let (held, actor) = benefit_for(&state, &caller, id, Action::UseDownloads)?;
        let catalog = state.catalog_covering([&held.benefit.type_code])?;
        let benefit_type = catalog
            .get(&held.benefit.type_code)
            .ok_or_else(ApiError::internal)?;
        if !benefit_type.features.has_product_keys {
            return Err(ApiError::refused(&PeopleError::NoProductKeys));
        }
        let packages: Vec<Software> = benefit_type
            .software
            .iter()
            .filter(|s| s.keyed)
            .cloned()
            .collect();
        let now = state.now();
        state.db.write(|tx| {
            let mut keys = tx.product_keys(id)?;
            for package in &packages {
                if !keys.iter().any(|(s, _)| *s == package.id) {
                    let key = new_product_key();
                    tx.insert_product_key(id, &package.id, &key, now)?;
                    keys.push((package.id.clone(), key));
                }
            }
            tx.audit(&audit::on_account(
                &actor,
                &held.account,
                AuditAction::ProductKeysViewed,
                TargetKind::Benefit.target(id.as_uuid()),
                Some(domain::audit::details::keys_viewed(keys.len())),
                now,
            ))?;
            Ok(packages
                .iter()
                .filter_map(|p| {
                    keys.iter()
                        .find(|(s, _)| *s == p.id)
                        .map(|(_, k)| ProductKeyView {
                            software_id: p.id.clone(),
                            name: p.name.get(language).to_owned(),
                            product_key: k.clone(),
                        })
                })
                .collect::<Vec<_>>())
        })
    })
    .await?;
    // Secrets: never kept by a cache, the browser's included.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ProductKeyList {
            items: keys,
            next_cursor: None,
        }))
}
