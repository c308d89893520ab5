//! Training Vouchers ⇄ Planning Services conversion (3 training days = 1 planning day, the
//! rule being `domain::conversion::TRAINING_TO_PLANNING`): quote, convert, history.

use super::list_schema;
use crate::access::{account_for, acting_on_account};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::{blocking, encode_cursor, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::conversions::{self, Asked};
use crate::views::ActorView;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::{Action, Actor};
use domain::conversion::{ConversionRecord, Direction, Quote, TRAINING_TO_PLANNING};
use domain::ids::AccountId;
use domain::ports::ConversionRepository;
use domain::Localized;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A dry run of a conversion.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"direction": "forward", "max_planning_days": 4, "planning_days": 2,
    "training_days": 6, "training_days_after": 7, "planning_days_after": 12, "ratio": 3}))]
pub struct QuoteView {
    /// `forward` (training → planning) or `reverse`.
    pub direction: String,
    /// The most planning days this direction allows now: forward
    /// `floor(remaining training days / 3)`; reverse the planning days converted and not
    /// converted back, at most those remaining.
    pub max_planning_days: i64,
    /// The planning days quoted (`planning_days` asked, else the maximum).
    pub planning_days: i64,
    /// The training days they correspond to.
    pub training_days: i64,
    /// Training days remaining after the conversion.
    pub training_days_after: i64,
    /// Planning days remaining after the conversion.
    pub planning_days_after: i64,
    /// Training days per planning day.
    pub ratio: i64,
}

impl From<Quote> for QuoteView {
    fn from(q: Quote) -> Self {
        Self {
            direction: q.direction.code().to_owned(),
            max_planning_days: q.max_target_days,
            planning_days: q.target_days,
            training_days: q.source_days,
            training_days_after: q.source_remaining_after,
            planning_days_after: q.target_remaining_after,
            ratio: TRAINING_TO_PLANNING.ratio,
        }
    }
}

/// A recorded conversion.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "5d7f9b1c-3e5a-4c7e-9a1b-3d5f7a9c1e3b", "account_id": "4a7b2c1d-5e6f-4a8b-9c0d-1e2f3a4b5c01",
    "direction": "forward", "planning_days": 2, "training_days": 6,
    "training_benefit_id": "0e2a4c6e-8a0c-4e2a-9c4e-6a8c0e2a4c6e", "planning_benefit_id": "1f3b5d7f-9b1d-4f3b-8d5f-7b9d1f3b5d7f",
    "actor": {"subject": "ana.lopez@contoso.com", "role": "customer_admin", "partner_id": null},
    "created_at": "2026-11-24T10:15:00Z"
}))]
pub struct ConversionView {
    pub id: Uuid,
    pub account_id: Uuid,
    /// `forward` (training → planning) or `reverse` (planning → training).
    #[schema(value_type = openapi::text::Direction)]
    pub direction: String,
    /// Planning days created (forward) or given back (reverse).
    pub planning_days: i64,
    /// Training days given (forward) or given back (reverse): 3 × `planning_days`.
    pub training_days: i64,
    pub training_benefit_id: Uuid,
    pub planning_benefit_id: Uuid,
    pub actor: ActorView,
    pub created_at: DateTime<Utc>,
}

impl From<&ConversionRecord> for ConversionView {
    fn from(c: &ConversionRecord) -> Self {
        Self {
            id: c.id,
            account_id: c.account_id.as_uuid(),
            direction: c.direction.code().to_owned(),
            planning_days: c.target_days,
            training_days: c.source_days,
            training_benefit_id: c.source_benefit_id.as_uuid(),
            planning_benefit_id: c.target_benefit_id.as_uuid(),
            actor: ActorView {
                subject: c.actor.subject.clone(),
                role: c.actor.role.code().to_owned(),
                partner_id: c.actor.partner.map(|p| p.as_uuid()),
            },
            created_at: c.at,
        }
    }
}

list_schema!(ConversionList, ConversionView);

/// `?direction=&planning_days=` of a quote.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuoteQuery {
    /// `forward` (training → planning) or `reverse`; default `forward`.
    #[param(value_type = Option<openapi::text::Direction>)]
    pub direction: Option<String>,
    /// Planning days to quote, at least 1; default the maximum.
    #[param(minimum = 1, maximum = 1000000000)]
    pub planning_days: Option<i64>,
}

/// A conversion to make.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"direction": "forward", "planning_days": 2}))]
pub struct ConvertBody {
    /// `forward` (training → planning) or `reverse` (planning → training).
    #[schema(value_type = openapi::text::Direction)]
    pub direction: String,
    /// Planning days to create (forward) or give back (reverse), at least 1.
    #[schema(minimum = 1, maximum = 1000000000)]
    #[serde(deserialize_with = "crate::extract::integer")]
    pub planning_days: i64,
}

fn direction(raw: Option<&str>) -> Result<Direction, ApiError> {
    match raw {
        None => Ok(Direction::Forward),
        Some(raw) => Direction::parse(raw).ok_or_else(|| {
            ApiError::invalid(
                "direction",
                Localized::new(
                    "must be forward or reverse",
                    "doit valoir forward ou reverse",
                ),
            )
        }),
    }
}

fn planning_days(n: i64) -> Result<i64, ApiError> {
    if (1..=domain::values::Quantity::MAX).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::invalid(
            "planning_days",
            Localized::new("must be at least 1", "doit valoir au moins 1"),
        ))
    }
}

/// Quote a conversion
///
/// A dry run: the most planning days that can be created (forward) or given back
/// (reverse) now, and the balances after `planning_days` (default: the maximum). Refused
/// with 422 like the conversion itself: no active Planning Services or Training Vouchers
/// benefit (`conversion_unavailable`, `benefit_expired`), or above the maximum
/// (`above_conversion_maximum`, with `context.max_planning_days`). Customer administrators,
/// permitted partners, operators.
#[utoipa::path(
    tag = "conversions",
    params(("account_id" = Uuid, Path, description = "The purchasing account"), QuoteQuery),
    responses(
        (status = 200, description = "The quote", body = QuoteView),
        (status = 404, response = openapi::NotFound),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[get("/accounts/{account_id}/conversions/quote")]
pub async fn quote(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    query: web::Query<QuoteQuery>,
) -> Result<web::Json<QuoteView>, ApiError> {
    let id = AccountId(path.into_inner());
    let asked = Asked {
        direction: direction(query.direction.as_deref())?,
        planning_days: query.planning_days.map(planning_days).transpose()?,
    };
    let now = state.now();
    let quote = blocking(move || conversions::quote(&state, &caller, id, asked, now)).await?;
    Ok(web::Json(quote.into()))
}

/// Convert
///
/// Forward: `planning_days` planning days are created from 3 × as many training days;
/// needs active Training Vouchers and Planning Services benefits and
/// `3 × planning_days <= remaining training days`. Reverse: gives back planning days
/// converted earlier (never more than converted and not yet converted back, nor more than
/// remain) for 3 × as many training days. Both ledger rows and the conversion record are
/// written in one transaction; the rows' `reference` is `conversion:<id>`. Refused with 422
/// as the quote says. Customer administrators and partners with `convert_benefits`. Send an
/// `Idempotency-Key` to retry safely.
#[utoipa::path(
    tag = "conversions",
    params(
        ("account_id" = Uuid, Path, description = "The purchasing account"),
        ("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, nullable = false, description = "1 to 255 visible ASCII characters; replays the first answer for 24 h"),
    ),
    request_body = ConvertBody,
    responses(
        (status = 201, description = "Converted", body = ConversionView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/accounts/{account_id}/conversions")]
pub async fn convert(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    body: web::Json<ConvertBody>,
) -> Result<HttpResponse, ApiError> {
    let id = AccountId(path.into_inner());
    let asked = Asked {
        direction: direction(Some(&body.direction))?,
        planning_days: planning_days(body.planning_days)?,
    };
    let account = acting_on_account(&state, &caller, id, Action::ConvertBenefits).await?;
    let actor = Actor::of(&caller);
    let body = body.into_inner();
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, now| {
        let record = conversions::convert(tx, &actor, &account, asked, now)?;
        idempotency::stored(StatusCode::CREATED, &[], &ConversionView::from(&record))
    })
    .await
}

/// Conversion history
///
/// The account's conversions, newest first: direction, days on each side, who. Customer
/// administrators, permitted partners, operators.
#[utoipa::path(
    tag = "conversions",
    params(("account_id" = Uuid, Path, description = "The purchasing account"), ListQuery),
    responses(
        (status = 200, description = "One page of conversions", body = ConversionList),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/accounts/{account_id}/conversions")]
pub async fn list(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<ConversionList>, ApiError> {
    let id = AccountId(path.into_inner());
    let page = query.page()?;
    let found = blocking(move || {
        account_for(&state, &caller, id, Action::ReadOrganization)?;
        Ok(state.db.conversions(id, &page)?)
    })
    .await?;
    Ok(web::Json(ConversionList {
        items: found.items.iter().map(ConversionView::from).collect(),
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}
