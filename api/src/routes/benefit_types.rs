use super::list_schema;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::{page_in_memory, ListQuery};
use crate::state::AppState;
use actix_web::{get, web};
use domain::catalog::{BenefitType, Features};
use domain::Language;
use serde::Serialize;
use utoipa::ToSchema;

/// A type of benefit of the catalog.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "code": "e_learning", "name": "E-Learning", "unit": "participants", "unit_label": "participants",
    "description": "Interactive, self-paced online training on a selection of Microsoft technologies, so employees are more productive with the software they use today and ready for new versions.",
    "learn_more_url": "http://www.microsoft.com/learning/sa",
    "admin_instructions": "Authorize at least one e-mail domain…", "end_user_instructions": "You have been enrolled…",
    "calculation": "Participant seats are granted from…",
    "features": {"has_vouchers": false, "convertible": false, "takes_users": true, "user_consumes": true, "removal_releases": true, "requires_authorized_domain": true,
                 "has_access_code": false, "has_downloads": false, "has_product_keys": false}
}))]
pub struct BenefitTypeView {
    /// Stable catalog code.
    pub code: String,
    pub name: String,
    /// What the benefit is counted in; `unmetered` has no quantity.
    #[schema(example = "participants")]
    pub unit: String,
    /// The unit for people, in the asked language.
    pub unit_label: String,
    pub description: String,
    pub learn_more_url: String,
    /// How an administrator sets the benefit up.
    pub admin_instructions: String,
    /// What an administrator sends to the people who use it.
    pub end_user_instructions: String,
    /// How the quantity is calculated.
    pub calculation: String,
    pub features: FeaturesView,
}

/// What a type does beyond its unit.
#[derive(Serialize, ToSchema)]
pub struct FeaturesView {
    /// The benefit carries training vouchers (`/benefits/{id}/vouchers`).
    pub has_vouchers: bool,
    /// The benefit takes part in a conversion (`/accounts/{id}/conversions`).
    pub convertible: bool,
    pub takes_users: bool,
    pub user_consumes: bool,
    pub removal_releases: bool,
    pub requires_authorized_domain: bool,
    pub has_access_code: bool,
    pub has_downloads: bool,
    pub has_product_keys: bool,
}

impl FeaturesView {
    /// What a type offers: its features, and the rules that apply to it.
    pub fn of(t: &BenefitType) -> Self {
        let f: Features = t.features;
        Self {
            has_vouchers: domain::voucher::has_vouchers(t.unit),
            convertible: domain::conversion::convertible(t.code.as_str()),
            takes_users: f.takes_users,
            user_consumes: f.user_consumes,
            removal_releases: f.removal_releases,
            requires_authorized_domain: f.requires_authorized_domain,
            has_access_code: f.has_access_code,
            has_downloads: f.has_downloads,
            has_product_keys: f.has_product_keys,
        }
    }
}

impl BenefitTypeView {
    pub fn new(t: &BenefitType, language: Language) -> Self {
        Self {
            code: t.code.as_str().to_owned(),
            name: t.name.get(language).to_owned(),
            unit: t.unit.code().to_owned(),
            unit_label: t.unit.label(language).to_owned(),
            description: t.description.get(language).to_owned(),
            learn_more_url: t.learn_more_url.clone(),
            admin_instructions: t.admin_instructions.get(language).to_owned(),
            end_user_instructions: t.end_user_instructions.get(language).to_owned(),
            calculation: t.calculation.get(language).to_owned(),
            features: FeaturesView::of(t),
        }
    }
}

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
        .catalog
        .types()
        .iter()
        .map(|t| BenefitTypeView::new(t, context.language))
        .collect();
    let (items, next_cursor) = page_in_memory(all, &page);
    Ok(web::Json(BenefitTypeList { items, next_cursor }))
}
