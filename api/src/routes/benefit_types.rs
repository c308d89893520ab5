use super::list_schema;
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::{blocking, page_in_memory, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::catalog;
use crate::valid;
use crate::views::BenefitTypeView;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use domain::auth::{authorize_global, Action};
use domain::catalog::Software;
use domain::catalog::{Features, NewType, TypeCode, Unit};
use domain::values::{CatalogText, Name, Reference};
use domain::Localized;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

list_schema!(BenefitTypeList, BenefitTypeView);

/// The benefit catalog
///
/// Every benefit type, in display order, with its metering unit and its texts in the language
/// of `Accept-Language` (`en` or `fr`). Open to every role.
#[utoipa::path(
    tag = "catalog",
    params(ListQuery),
    responses((status = 200, description = "The catalog", body = BenefitTypeList))
)]
#[get("/benefit-types")]
pub async fn list(
    state: web::Data<AppState>,
    context: RequestContext,
    query: web::Query<ListQuery>,
) -> Result<web::Json<BenefitTypeList>, ApiError> {
    let page = query.page()?;
    let all: Vec<BenefitTypeView> = state
        .catalog()
        .types()
        .iter()
        .map(|t| BenefitTypeView::new(t, context.language))
        .collect();
    let (items, next_cursor) = page_in_memory(all, &page);
    Ok(web::Json(BenefitTypeList { items, next_cursor }))
}

/// What a type does beyond its unit, as an operator declares it; absent flags are `false`.
#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesBody {
    /// Administrators add named users to the benefit.
    pub takes_users: bool,
    /// Adding a user consumes one unit (needs `takes_users`).
    pub user_consumes: bool,
    /// Removing a user gives the unit back (needs `user_consumes`).
    pub removal_releases: bool,
    /// Users need an e-mail in an authorized domain of the account (needs `takes_users`).
    pub requires_authorized_domain: bool,
    /// The benefit has a program / access code to distribute.
    pub has_access_code: bool,
    /// Software to download, each recorded download consuming one (unit `downloads`).
    pub has_downloads: bool,
    /// Packages with product keys (needs `has_downloads`).
    pub has_product_keys: bool,
}

/// A software package of a download type.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "vsp-2026-x64", "name": {"en": "Visio Pro 2026 (x64)", "fr": "Visio Pro 2026 (x64)"},
    "version": "2026", "language": "multilingual", "size_mb": 3100, "needs_product_key": true}))]
pub struct SoftwareBody {
    /// Stable id, passed as `software_id` to record a download.
    #[schema(value_type = openapi::text::Reference)]
    pub id: String,
    pub name: super::NameInBothLanguages,
    #[schema(value_type = openapi::text::Reference)]
    pub version: String,
    /// `multilingual` or a language code (`en`, `fr`, …).
    #[schema(value_type = openapi::text::Reference)]
    pub language: String,
    #[schema(value_type = u32, maximum = 1000000)]
    #[serde(deserialize_with = "crate::extract::integer")]
    pub size_mb: i64,
    #[serde(default)]
    pub needs_product_key: bool,
}

/// The largest package size accepted, in MB (the document's `maximum`).
const MAX_SIZE_MB: u32 = 1_000_000;

/// A type to add to the catalog.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "code": "visio_pack", "unit": "downloads",
    "name": {"en": "Visio Professional Pack", "fr": "Pack Visio Professionnel"},
    "description": {"en": "Visio Professional for the people who draw diagrams.", "fr": "Visio Professionnel pour celles et ceux qui dessinent des diagrammes."},
    "learn_more_url": "https://www.microsoft.com/en-us/Licensing/licensing-programs/software-assurance-by-product.aspx",
    "admin_instructions": {"en": "Record each download of the package.", "fr": "Enregistrez chaque téléchargement du logiciel."},
    "end_user_instructions": {"en": "Download Visio from the Volume Licensing Service Center.", "fr": "Téléchargez Visio depuis le Volume Licensing Service Center."},
    "calculation": {"en": "One download per qualifying Visio licence with SA.", "fr": "Un téléchargement par licence Visio éligible avec SA."},
    "features": {"has_downloads": true, "has_product_keys": true},
    "software": [{"id": "vsp-2026-x64", "name": {"en": "Visio Pro 2026 (x64)", "fr": "Visio Pro 2026 (x64)"},
                  "version": "2026", "language": "multilingual", "size_mb": 3100, "needs_product_key": true}]
}))]
pub struct NewBenefitType {
    /// The new catalog code: lower-case letters, digits and `_`, starting with a letter.
    #[schema(value_type = openapi::text::TypeCode)]
    pub code: String,
    /// One of the seven metering units: the rules of each stay in code.
    #[schema(value_type = String)]
    pub unit: String,
    pub name: super::NameInBothLanguages,
    pub description: super::TextInBothLanguages,
    /// `http://` or `https://` and a host name (the document's pattern is a little
    /// narrower than the parser, which takes any URL a browser takes).
    #[schema(
        max_length = 2000,
        pattern = r"^https?://(?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(?::[0-9]{1,4})?(?:/[!-~]*)?$",
        example = "https://www.microsoft.com/en-us/licensing/licensing-programs/software-assurance-by-benefits"
    )]
    pub learn_more_url: String,
    pub admin_instructions: super::TextInBothLanguages,
    pub end_user_instructions: super::TextInBothLanguages,
    /// How the quantity is calculated.
    pub calculation: super::TextInBothLanguages,
    #[serde(default)]
    pub features: FeaturesBody,
    /// The packages of a type with `has_downloads`; none otherwise.
    #[serde(default)]
    pub software: Vec<SoftwareBody>,
}

fn both<T>(
    fields: &mut Fields,
    field: &str,
    en: &str,
    fr: &str,
    parse: fn(&str) -> Result<T, domain::values::InvalidValue>,
    as_str: fn(&T) -> &str,
) -> Option<Localized> {
    let en = fields.check(format!("{field}.en"), parse(en));
    let fr = fields.check(format!("{field}.fr"), parse(fr));
    Some(Localized::new(as_str(&en?), as_str(&fr?)))
}

fn name_of(fields: &mut Fields, field: &str, t: &super::NameInBothLanguages) -> Option<Localized> {
    both(fields, field, &t.en, &t.fr, Name::parse, Name::as_str)
}

fn text_of(fields: &mut Fields, field: &str, t: &super::TextInBothLanguages) -> Option<Localized> {
    both(
        fields,
        field,
        &t.en,
        &t.fr,
        CatalogText::parse,
        CatalogText::as_str,
    )
}

fn invalid(en: &str, fr: &str) -> domain::values::InvalidValue {
    domain::values::InvalidValue {
        message: Localized::new(en, fr),
    }
}

/// A "learn more" link: an absolute `http(s)` URL of at most 2000 characters.
fn link(raw: &str) -> Result<String, domain::values::InvalidValue> {
    let refused = || {
        invalid(
            "must be an http:// or https:// address of at most 2000 characters",
            "doit être une adresse http:// ou https:// d'au plus 2000 caractères",
        )
    };
    let parsed = url::Url::parse(raw.trim()).map_err(|_| refused())?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || raw.trim().len() > 2000
    {
        return Err(refused());
    }
    Ok(raw.trim().to_owned())
}

/// Parses the body into the domain's draft, every field checked (all problems at once).
fn draft(body: &NewBenefitType) -> Result<NewType, ApiError> {
    let mut fields = Fields::default();
    let code = fields.check("code", TypeCode::parse(&body.code));
    let unit = fields.check(
        "unit",
        Unit::parse(&body.unit).ok_or_else(|| {
            invalid(
                "must be one of incidents, participants, downloads, licenses, planning_days, training_days, unmetered",
                "doit être incidents, participants, downloads, licenses, planning_days, training_days ou unmetered",
            )
        }),
    );
    let name = name_of(&mut fields, "name", &body.name);
    let description = text_of(&mut fields, "description", &body.description);
    let learn_more_url = fields.check("learn_more_url", link(&body.learn_more_url));
    let admin_instructions = text_of(&mut fields, "admin_instructions", &body.admin_instructions);
    let end_user_instructions = text_of(
        &mut fields,
        "end_user_instructions",
        &body.end_user_instructions,
    );
    let calculation = text_of(&mut fields, "calculation", &body.calculation);
    let software: Option<Vec<Software>> = body
        .software
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = |f: &str| format!("software[{i}].{f}");
            let id = fields.check(at("id"), Reference::parse(&s.id));
            let name = name_of(&mut fields, &at("name"), &s.name);
            let version = fields.check(at("version"), Reference::parse(&s.version));
            let language = fields.check(at("language"), Reference::parse(&s.language));
            let size_mb = fields.check(
                at("size_mb"),
                u32::try_from(s.size_mb)
                    .ok()
                    .filter(|mb| *mb <= MAX_SIZE_MB)
                    .ok_or_else(|| {
                        invalid(
                            "must be between 0 and 1000000",
                            "doit valoir entre 0 et 1000000",
                        )
                    }),
            );
            Some(Software {
                id: id?.as_str().to_owned(),
                name: name?,
                version: version?.as_str().to_owned(),
                language: language?.as_str().to_owned(),
                size_mb: size_mb?,
                keyed: s.needs_product_key,
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    valid!(fields; code, unit, name, description, learn_more_url, admin_instructions,
        end_user_instructions, calculation, software);
    let f = &body.features;
    Ok(NewType {
        code,
        unit,
        name,
        description,
        learn_more_url,
        admin_instructions,
        end_user_instructions,
        calculation,
        features: Features {
            takes_users: f.takes_users,
            user_consumes: f.user_consumes,
            removal_releases: f.removal_releases,
            requires_authorized_domain: f.requires_authorized_domain,
            has_access_code: f.has_access_code,
            has_downloads: f.has_downloads,
            has_product_keys: f.has_product_keys,
        },
        software,
    })
}

/// Add a type to the catalog
///
/// Operators only. The type is at once among every account's "other benefits" and can be
/// granted; its texts come in English and French, its unit is one of the seven the rules know,
/// and its features must fit together and with the unit (422 `inconsistent_features` says
/// why). A code already in the catalog is refused (409 `type_exists`). Partners approved
/// before the type was added act on its benefits only with `manage_future_benefits`.
#[utoipa::path(
    tag = "catalog",
    request_body = NewBenefitType,
    responses(
        (status = 201, description = "Added", body = BenefitTypeView),
        (status = 403, response = openapi::Forbidden),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/benefit-types")]
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    context: RequestContext,
    Caller(caller): Caller,
    body: web::Json<NewBenefitType>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorize_global(&caller, Action::ManageCatalog)?;
    let body = body.into_inner();
    let draft = draft(&body)?;
    let language = context.language;
    let answer = idempotency::run(&state, &req, &caller, &context, &body, move |tx, now| {
        let added = catalog::add_type(tx, &actor, draft, now)?;
        let view = BenefitTypeView::new(&added, language);
        idempotency::stored(StatusCode::CREATED, &[], &view)
    })
    .await?;
    let store = state.clone();
    blocking(move || catalog::refresh(&store)).await?;
    Ok(answer)
}
