use super::list_schema;
use crate::access::{
    acting_on_account, authorize_on_portfolio, benefit_for, decides_in_memory, Resource,
};
use crate::auth::Caller;
use crate::cache::{Answer, AnswerKey, Validity, View};
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::{blocking, page_in_memory, page_start, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases;
use crate::valid;
use crate::views::BenefitTypeView;
use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::{Action, Principal};
use domain::benefit::{
    split_for_portal, Alert, AlertContext, Benefit, CalculationInput, Grant, OtherBenefit,
};
use domain::catalog::{BenefitType, Catalog};
use domain::entities::PurchasingAccount;
use domain::horizon::{earliest, time_horizon};
use domain::ids::{AccountId, BenefitId, OrganizationId};
use domain::page::PageRequest;
use domain::ports::{BenefitRepository, DirectoryRepository, Portfolio, VoucherRepository};
use domain::values::{DomainName, Name, Quantity};
use domain::voucher::{days_expiring_soon, VoucherExpiry};
use domain::Language;
use persistence::{Scope, Stamp};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// Identification information shown with a benefit.
#[derive(Serialize, ToSchema)]
pub struct Identification {
    pub agreement_number: Option<String>,
    /// Software Assurance identification number.
    pub sa_id: Option<String>,
    /// The account's program code, for types distributed with one (Home Use Program).
    pub program_code: Option<String>,
    /// The benefit's own access code, for types that have one (Home Use Program).
    pub access_code: Option<String>,
}

/// Something the administrator should do or know.
#[derive(Serialize, ToSchema)]
pub struct AlertView {
    /// `expired`, `expiring_soon`, `not_yet_valid`, `domain_required`, `low_remaining`, `training_days_expiring`.
    #[schema(example = "domain_required")]
    pub code: String,
    /// `info`, `warning`, or `action` (required before the benefit can be used).
    #[schema(example = "action")]
    pub severity: String,
    #[schema(example = "Add an eligible e-mail domain before users can be added.")]
    pub message: String,
}

impl AlertView {
    fn new(alert: &Alert, language: Language) -> Self {
        Self {
            code: alert.code.code().to_owned(),
            severity: alert.severity.code().to_owned(),
            message: alert.message.get(language).to_owned(),
        }
    }
}

/// A benefit of a purchasing account, with its figures.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "6f1e2d3c-4b5a-4697-8877-665544332211", "account_id": "4d7a2b1c-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
    "type": "e_learning", "name": "E-Learning",
    "description": "Interactive, self-paced online training on a selection of Microsoft technologies, so employees are more productive with the software they use today and ready for new versions.",
    "learn_more_url": "http://www.microsoft.com/learning/sa",
    "features": {"has_vouchers": false, "convertible": false, "takes_users": true, "user_consumes": true,
        "removal_releases": true, "requires_authorized_domain": true, "has_access_code": false,
        "has_downloads": false, "has_product_keys": false},
    "unit": "participants", "unit_label": "participants",
    "quantity": 250, "used": 231, "remaining": 19, "status": "active", "status_label": "Active",
    "valid_from": "2026-07-01T00:00:00Z", "expires_at": "2027-06-30T23:59:59Z",
    "identification": {"agreement_number": "EA-7781-2291", "sa_id": "SA-0042-7781", "program_code": null, "access_code": null},
    "alerts": [{"code": "low_remaining", "severity": "warning", "message": "19 participants left out of 250."}]
}))]
pub struct BenefitSummary {
    pub id: Uuid,
    pub account_id: Uuid,
    /// The catalog code.
    #[serde(rename = "type")]
    #[schema(value_type = openapi::text::TypeCode)]
    pub type_code: String,
    pub name: String,
    /// The type's description, in the asked language.
    pub description: String,
    pub learn_more_url: String,
    /// What the benefit offers: which screens a front end shows for it.
    pub features: crate::views::FeaturesView,
    pub unit: String,
    pub unit_label: String,
    /// Entitled; `null` for an unmetered benefit.
    pub quantity: Option<i64>,
    pub used: Option<i64>,
    /// `quantity - used`.
    pub remaining: Option<i64>,
    /// `active` or `expired`.
    #[schema(example = "active")]
    pub status: String,
    /// The status as a person reads it, in the asked language.
    pub status_label: String,
    pub valid_from: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub identification: Identification,
    pub alerts: Vec<AlertView>,
}

/// A benefit with everything the details page shows.
#[derive(Serialize, ToSchema)]
pub struct BenefitDetails {
    #[serde(flatten)]
    pub summary: BenefitSummary,
    /// How an administrator sets the benefit up.
    pub admin_instructions: String,
    /// What an administrator sends to the people who use it.
    pub end_user_instructions: String,
    /// How the quantity is calculated.
    pub calculation_rule: String,
    /// The account's authorized e-mail domains (ASCII form).
    pub eligible_domains: Vec<String>,
    /// Bumped by every change; also the `ETag`.
    pub version: i64,
}

/// A type the account could hold, or held and has expired.
#[derive(Serialize, ToSchema)]
pub struct OtherBenefitView {
    /// The catalog code (as in "your benefits"; also `code`).
    #[serde(rename = "type")]
    #[schema(value_type = openapi::text::TypeCode)]
    pub type_code: String,
    #[serde(flatten)]
    pub benefit_type: BenefitTypeView,
    /// Whether the account held it and it has expired.
    pub expired: bool,
    /// The expired benefit, when `expired`.
    pub benefit_id: Option<Uuid>,
    pub expired_at: Option<DateTime<Utc>>,
    /// "This benefit has expired" when `expired`.
    pub message: Option<String>,
}

list_schema!(BenefitList, BenefitSummary);
list_schema!(OtherBenefitList, OtherBenefitView);

/// One figure the operator recorded with the grant, shown in the calculation view.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculationInputBody {
    /// What the figure is, in English and French: the calculation view shows the reader's.
    pub label: super::NameInBothLanguages,
    #[schema(example = 1250)]
    #[serde(deserialize_with = "crate::extract::integer")]
    pub value: i64,
}

/// A grant of one benefit type to a purchasing account.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "type": "e_learning", "quantity": 250, "valid_from": "2026-07-01T00:00:00Z", "expires_at": "2027-06-30T23:59:59Z",
    "calculation_inputs": [{"label": {"en": "Qualifying desktop licences with SA", "fr": "Licences de postes de travail éligibles avec SA"}, "value": 1250}]
}))]
pub struct GrantBody {
    /// A catalog code.
    #[serde(rename = "type")]
    #[schema(value_type = openapi::text::TypeCode)]
    pub type_code: String,
    /// Entitled quantity (0 to 1 000 000 000); `null` or absent for an unmetered type.
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    #[schema(minimum = 0, maximum = 1000000000)]
    pub quantity: Option<i64>,
    /// When the benefit starts; now when absent.
    pub valid_from: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    /// The figures the quantity was computed from.
    #[serde(default)]
    pub calculation_inputs: Vec<CalculationInputBody>,
}

/// Builds the views of an account's benefits.
struct Presenter<'a> {
    catalog: Arc<Catalog>,
    account: &'a PurchasingAccount,
    language: Language,
    now: DateTime<Utc>,
    domains: usize,
    /// The assigned vouchers of the benefits shown (for the training days alert).
    vouchers: &'a [VoucherExpiry],
}

impl Presenter<'_> {
    fn benefit_type(&self, benefit: &Benefit) -> Result<&BenefitType, ApiError> {
        self.catalog.get(&benefit.type_code).ok_or_else(|| {
            tracing::error!(
                code = benefit.type_code.as_str(),
                "benefit of a type missing from the catalog"
            );
            ApiError::internal()
        })
    }

    fn summary(&self, benefit: &Benefit) -> Result<BenefitSummary, ApiError> {
        let benefit_type = self.benefit_type(benefit)?;
        let context = AlertContext {
            now: self.now,
            authorized_domains: self.domains,
            training_days_expiring_soon: days_expiring_soon(self.vouchers, benefit.id, self.now),
        };
        Ok(BenefitSummary {
            id: benefit.id.as_uuid(),
            account_id: benefit.account_id.as_uuid(),
            type_code: benefit.type_code.as_str().to_owned(),
            name: benefit_type.name.get(self.language).to_owned(),
            description: benefit_type.description.get(self.language).to_owned(),
            learn_more_url: benefit_type.learn_more_url.clone(),
            features: crate::views::FeaturesView::of(benefit_type),
            unit: benefit.unit.code().to_owned(),
            unit_label: benefit.unit.label(self.language).to_owned(),
            quantity: benefit.quantity(),
            used: benefit.used(),
            remaining: benefit.remaining(),
            status: benefit.status(self.now).code().to_owned(),
            status_label: benefit
                .status(self.now)
                .label()
                .get(self.language)
                .to_owned(),
            valid_from: benefit.valid_from,
            expires_at: benefit.expires_at,
            identification: Identification {
                agreement_number: self
                    .account
                    .agreement_number
                    .as_ref()
                    .map(|r| r.as_str().to_owned()),
                sa_id: self.account.sa_id.as_ref().map(|r| r.as_str().to_owned()),
                program_code: benefit_type
                    .features
                    .has_access_code
                    .then(|| {
                        self.account
                            .program_code
                            .as_ref()
                            .map(|r| r.as_str().to_owned())
                    })
                    .flatten(),
                access_code: benefit.access_code.clone(),
            },
            alerts: benefit
                .alerts(benefit_type, &context)
                .iter()
                .map(|a| AlertView::new(a, self.language))
                .collect(),
        })
    }

    fn details(
        &self,
        benefit: &Benefit,
        domains: &[DomainName],
    ) -> Result<BenefitDetails, ApiError> {
        let t = self.benefit_type(benefit)?;
        Ok(BenefitDetails {
            summary: self.summary(benefit)?,
            admin_instructions: t.admin_instructions.get(self.language).to_owned(),
            end_user_instructions: t.end_user_instructions.get(self.language).to_owned(),
            calculation_rule: t.calculation.get(self.language).to_owned(),
            eligible_domains: domains.iter().map(|d| d.as_str().to_owned()).collect(),
            version: benefit.version,
        })
    }
}

/// Your benefits
///
/// The account's active benefits with `quantity`, `used`, `remaining`, `unit`, identification
/// information and `alerts`. A benefit not yet started is listed with a `not_yet_valid` alert.
#[utoipa::path(
    tag = "benefits",
    params(("account_id" = Uuid, Path, description = "The purchasing account"), ListQuery),
    responses(
        (status = 200, description = "The active benefits", body = BenefitList),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/accounts/{account_id}/benefits")]
pub async fn list_active(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let read = PortfolioRead::new(
        View::ActiveBenefits,
        caller,
        &context,
        path.into_inner(),
        &query,
    )?;
    read.answer(state, active_items, |items, next_cursor| BenefitList {
        items,
        next_cursor,
    })
    .await
}

fn active_items(
    state: &AppState,
    portfolio: &Portfolio,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Vec<BenefitSummary>, ApiError> {
    let presenter = Presenter {
        catalog: state.catalog_covering(portfolio.benefits.iter().map(|b| &b.type_code))?,
        account: &portfolio.account,
        language,
        now,
        domains: portfolio.authorized_domains,
        vouchers: &portfolio.voucher_expiries,
    };
    let (active, _) = split_for_portal(presenter.catalog.types(), &portfolio.benefits, now);
    active.into_iter().map(|b| presenter.summary(b)).collect()
}

/// Other benefits you may be eligible for
///
/// The catalog types the account does not hold, and its expired benefits, each expired one
/// marked `expired: true` with the message "This benefit has expired".
#[utoipa::path(
    tag = "benefits",
    params(("account_id" = Uuid, Path, description = "The purchasing account"), ListQuery),
    responses(
        (status = 200, description = "Types not held and expired benefits", body = OtherBenefitList),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/accounts/{account_id}/benefits/other")]
pub async fn list_other(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let read = PortfolioRead::new(
        View::OtherBenefits,
        caller,
        &context,
        path.into_inner(),
        &query,
    )?;
    read.answer(state, other_items, |items, next_cursor| OtherBenefitList {
        items,
        next_cursor,
    })
    .await
}

fn other_items(
    state: &AppState,
    portfolio: &Portfolio,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Vec<OtherBenefitView>, ApiError> {
    let catalog = state.catalog();
    let (_, other) = split_for_portal(catalog.types(), &portfolio.benefits, now);
    Ok(other
        .into_iter()
        .map(|o| match o {
            OtherBenefit::NotHeld(t) => OtherBenefitView {
                type_code: t.code.as_str().to_owned(),
                benefit_type: BenefitTypeView::new(t, language),
                expired: false,
                benefit_id: None,
                expired_at: None,
                message: None,
            },
            OtherBenefit::Expired(t, b) => OtherBenefitView {
                type_code: t.code.as_str().to_owned(),
                benefit_type: BenefitTypeView::new(t, language),
                expired: true,
                benefit_id: Some(b.id.as_uuid()),
                expired_at: Some(b.expires_at),
                message: Some(Alert::expired().message.get(language).to_owned()),
            },
        })
        .collect())
}

/// A list read from an account's portfolio, served from the kept answers while they are
/// exactly current (see [`crate::answers`]).
struct PortfolioRead {
    caller: Principal,
    key: AnswerKey,
    page: PageRequest,
}

/// Renders a portfolio's items at an instant.
type Render<T> = fn(&AppState, &Portfolio, Language, DateTime<Utc>) -> Result<Vec<T>, ApiError>;

impl PortfolioRead {
    fn new(
        view: View,
        caller: Principal,
        context: &RequestContext,
        account: Uuid,
        query: &ListQuery,
    ) -> Result<Self, ApiError> {
        let page = query.page()?;
        let key = AnswerKey {
            view,
            account: AccountId(account),
            viewer: caller.kind,
            language: context.language,
            limit: page.limit(),
            start: page_start(&page),
        };
        Ok(Self { caller, key, page })
    }

    async fn answer<T, L>(
        self,
        state: web::Data<AppState>,
        render: Render<T>,
        wrap: fn(Vec<T>, Option<String>) -> L,
    ) -> Result<HttpResponse, ApiError>
    where
        T: Send + 'static,
        L: Serialize,
    {
        let Self { caller, key, page } = self;
        if let Some(answer) = state.cache.get(&key, state.db.changes(), state.now()) {
            return Ok(json_answer(answer));
        }
        let (id, language) = (key.account, key.language);
        let read = match read_in_place(&state, &caller, id, language, render).await {
            Some(read) => read,
            None => {
                let reader = state.clone();
                blocking(move || {
                    let stamp = stamp_before_read(&reader, id)?;
                    let now = reader.now();
                    let portfolio = reader.db.portfolio(id)?;
                    finish_read(&reader, &caller, portfolio, (stamp, now), language, render)
                })
                .await
            }
        };
        let (items, validity) = read?;
        let (items, next_cursor) = page_in_memory(items, &page);
        let body = serde_json::to_vec(&wrap(items, next_cursor)).map_err(|e| {
            tracing::error!(error = %e, "a list could not be serialized");
            ApiError::internal()
        })?;
        let answer = Answer::new(Bytes::from(body));
        state
            .cache
            .keep(key, validity, state.db.changes(), answer.clone());
        Ok(json_answer(answer))
    }
}

/// The stamp of what an answer about account `id` rests on, taken before its reads: a write of
/// the account or of its organization that starts after this makes the answer stale. The
/// account's organization never changes: it is read once per account. Nothing of this when
/// no answer is kept. Blocking the first time an account is met.
fn stamp_before_read(state: &AppState, id: AccountId) -> Result<Option<Stamp>, ApiError> {
    let org = match state.cache.organization_of(id) {
        Some(org) => Some(org),
        None if state.cache.keeps() => state.db.account(id)?.map(|a| a.organization_id),
        None => None,
    };
    Ok(org.and_then(|org| stamp_of(state, id, org)))
}

fn stamp_of(state: &AppState, id: AccountId, org: OrganizationId) -> Option<Stamp> {
    state.db.changes().stamp(&[
        Scope::Account(id.as_uuid()),
        Scope::Organization(org.as_uuid()),
    ])
}

/// The list read without leaving the worker's thread where the database allows it
/// (PostgreSQL: [`persistence::Database::portfolio_in_place`]): `None` when it does not, when
/// the account's organization is not known yet, or when that read failed (the caller reads
/// through the pool instead). The decision and the rendering stay on the thread unless they
/// need the database (a partner's permission, a type another server added to the catalog).
async fn read_in_place<T: Send + 'static>(
    state: &web::Data<AppState>,
    caller: &Principal,
    id: AccountId,
    language: Language,
    render: Render<T>,
) -> Option<Result<(Vec<T>, Validity), ApiError>> {
    let stamp = match state.cache.organization_of(id) {
        Some(org) => stamp_of(state, id, org),
        None if state.cache.keeps() => return None,
        None => None,
    };
    let now = state.now();
    let portfolio = match state.db.portfolio_in_place(id).await? {
        Ok(portfolio) => portfolio,
        Err(e) => {
            tracing::warn!(error = %e.0, "reading through the pool instead");
            return None;
        }
    };
    let catalog = state.catalog();
    let covered = portfolio.as_ref().is_none_or(|p| {
        p.benefits
            .iter()
            .all(|b| catalog.get(&b.type_code).is_some())
    });
    if covered && decides_in_memory(caller, Action::ReadOrganization) {
        return Some(finish_read(
            state,
            caller,
            portfolio,
            (stamp, now),
            language,
            render,
        ));
    }
    let (state, caller) = (state.clone(), caller.clone());
    Some(
        blocking(move || finish_read(&state, &caller, portfolio, (stamp, now), language, render))
            .await,
    )
}

/// A list's items from its account's portfolio read at `now` (`None`: no such account), and
/// how long they hold. Blocking unless [`decides_in_memory`] and the catalog covers the
/// portfolio's types.
fn finish_read<T>(
    state: &AppState,
    caller: &Principal,
    portfolio: Option<Portfolio>,
    (stamp, now): (Option<Stamp>, DateTime<Utc>),
    language: Language,
    render: Render<T>,
) -> Result<(Vec<T>, Validity), ApiError> {
    let portfolio = portfolio.ok_or_else(|| Resource::Account.not_found())?;
    let access_until = authorize_on_portfolio(state, caller, &portfolio, Action::ReadOrganization)?;
    state
        .cache
        .remember_organization(portfolio.account.id, portfolio.account.organization_id);
    let items = render(state, &portfolio, language, now)?;
    let shown_until = time_horizon(&portfolio.benefits, &portfolio.voucher_expiries, now);
    let validity = Validity {
        stamp,
        read_at: now,
        until: earliest(shown_until, access_until),
    };
    Ok((items, validity))
}

fn json_answer(answer: Answer) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .insert_header((header::ETAG, answer.etag))
        .body(answer.body)
}

/// A code the catalog does not hold: a refusal, not a malformed body (the catalog is data).
fn unknown_type(code: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_benefit_type",
        domain::Localized::new(
            format!("The catalog has no benefit type {code:?} (GET /api/v1/benefit-types)."),
            format!(
                "Le catalogue n'a pas de type d'avantage {code:?} (GET /api/v1/benefit-types)."
            ),
        ),
    )
}

/// The figures a grant's quantity was computed from, each label checked in both languages.
fn parse_inputs(
    fields: &mut Fields,
    inputs: &[CalculationInputBody],
) -> Option<Vec<CalculationInput>> {
    let parsed: Vec<Option<CalculationInput>> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let field = |language: &str| format!("calculation_inputs[{i}].label.{language}");
            let en = fields.check(field("en"), Name::parse(&input.label.en));
            let fr = fields.check(field("fr"), Name::parse(&input.label.fr));
            Some(CalculationInput::new(en?, fr?, input.value))
        })
        .collect();
    parsed.into_iter().collect()
}

/// A new random access code: 10 upper-case letters and digits (no 0/O, 1/I).
fn new_access_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Grant a benefit
///
/// Operators only. Gives the account one catalog type with its quantity (none for an
/// unmetered type) and validity period, and records the figures it was computed from for the
/// calculation view. The grant is the first entry of the benefit's ledger. An account holds
/// at most one unexpired benefit of each type: more quantity is an adjustment.
///
/// Send an `Idempotency-Key` to retry safely: the same key and body within 24 h answer the
/// first grant again (`Idempotent-Replayed: true`).
#[utoipa::path(
    tag = "benefits",
    params(
        ("account_id" = Uuid, Path, description = "The purchasing account"),
        ("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, nullable = false, description = "1 to 255 visible ASCII characters; replays the first answer for 24 h"),
    ),
    request_body = GrantBody,
    responses(
        (status = 201, description = "Granted", body = BenefitDetails,
         headers(("Location" = String, description = "The new benefit"), ("ETag" = String, description = "Its version"))),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/accounts/{account_id}/benefits")]
pub async fn grant(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    body: web::Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    let id = AccountId(path.into_inner());
    let now = state.now();
    let granted = checked_grant(&state.catalog(), &body, now)?;
    let account = acting_on_account(&state, &caller, id, Action::GrantBenefits).await?;
    let actor = domain::auth::Actor::of(&caller);
    let (catalog, language) = (state.catalog(), context.language);
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, _| {
        let benefit = use_cases::benefits::grant(tx, &actor, &account, &granted, now)?;
        let domains = tx.domains(id)?;
        let presenter = Presenter {
            catalog,
            account: &account,
            language,
            now,
            domains: domains.len(),
            // A new benefit has no vouchers yet.
            vouchers: &[],
        };
        let details = presenter.details(&benefit, &domains)?;
        let location = format!("/api/v1/benefits/{}", details.summary.id);
        let etag = crate::preconditions::etag(details.version);
        let headers = [(header::LOCATION, location), (header::ETAG, etag)];
        idempotency::stored(StatusCode::CREATED, &headers, &details)
    })
    .await
}

/// The grant a body asks for, every field checked and the type's rules applied
/// (`domain::benefit::Grant`), with a new benefit id and, for a type with one, its access code.
fn checked_grant(
    catalog: &Catalog,
    body: &GrantBody,
    now: DateTime<Utc>,
) -> Result<use_cases::benefits::Granted, ApiError> {
    let Some(benefit_type) = catalog.find(&body.type_code) else {
        return Err(unknown_type(&body.type_code));
    };
    let mut fields = Fields::default();
    let quantity = fields.optional("quantity", body.quantity.as_ref(), |q| Quantity::new(*q));
    let inputs = parse_inputs(&mut fields, &body.calculation_inputs);
    valid!(fields; quantity, inputs);
    let valid_from = body.valid_from.unwrap_or(now);
    let checked = Grant::new(
        benefit_type,
        quantity,
        valid_from,
        body.expires_at,
        inputs,
        now,
    )
    .map_err(|e| ApiError::refused(&e))?;
    Ok(use_cases::benefits::Granted {
        id: BenefitId(Uuid::new_v4()),
        grant: checked,
        access_code: benefit_type.features.has_access_code.then(new_access_code),
    })
}

/// One benefit
///
/// Everything the details page shows: figures, status, identification, alerts, the
/// administrator's and end users' instructions, how the quantity is calculated and the
/// eligible domains. Answers an `ETag` with the benefit's version.
#[utoipa::path(
    tag = "benefits",
    params(("benefit_id" = Uuid, Path, description = "The benefit")),
    responses(
        (status = 200, description = "The benefit", body = BenefitDetails,
         headers(("ETag" = String, description = "The benefit's version"))),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/benefits/{benefit_id}")]
pub async fn get(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = BenefitId(path.into_inner());
    let details = blocking(move || {
        let (held, _) = benefit_for(&state, &caller, id, Action::ReadOrganization)?;
        let domains = state.db.authorized_domains(held.account.id)?;
        let vouchers = state.db.voucher_expiries(held.benefit.id)?;
        let presenter = Presenter {
            catalog: state.catalog_covering([&held.benefit.type_code])?,
            account: &held.account,
            vouchers: &vouchers,
            language: context.language,
            now: state.now(),
            domains: domains.len(),
        };
        presenter.details(&held.benefit, &domains)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, crate::preconditions::etag(details.version)))
        .json(details))
}
