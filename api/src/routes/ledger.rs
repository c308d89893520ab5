//! A benefit's ledger: consumptions, adjustments, the calculation view and the history.

use super::list_schema;
use crate::access::benefit_for;
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::{blocking, encode_cursor, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::ledger;
use crate::valid;
use crate::views::{LedgerChange, TransactionView};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::{Action, Principal};
use domain::ids::BenefitId;
use domain::ledger::{EntryKind, Figures};
use domain::metering::LedgerFilter;
use domain::ports::LedgerHistory;
use domain::values::{Quantity, Reason, Reference};
use domain::Localized;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

list_schema!(TransactionList, TransactionView);

/// A consumption: an incident opened, planning days scheduled.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quantity": 1, "reference": "INC-20261124-0042", "note": "Exchange outage"}))]
pub struct ConsumptionBody {
    /// How many units, at least 1.
    #[schema(minimum = 1, maximum = 1000000000)]
    #[serde(deserialize_with = "crate::extract::integer")]
    pub quantity: i64,
    /// What it is for, e.g. the incident number (letters, digits, - _ . /).
    #[schema(value_type = Option<openapi::text::Reference>)]
    pub reference: Option<String>,
    /// Free text, up to 500 characters.
    #[schema(value_type = Option<openapi::text::Reason>)]
    pub note: Option<String>,
}

/// An adjustment of the entitled quantity.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quantity": -5, "reason": "True-up: 500 fewer qualifying licences"}))]
pub struct AdjustmentBody {
    /// Signed: positive adds, negative removes (never below what is used).
    #[serde(deserialize_with = "crate::extract::integer")]
    #[schema(minimum = -1000000000, maximum = 1000000000)]
    pub quantity: i64,
    /// Why, up to 500 characters.
    #[schema(value_type = openapi::text::Reason)]
    pub reason: String,
}

/// Runs `change` (`use_cases::ledger`) with the request's idempotency key: the change, its
/// ledger entry and the kept answer commit together, in one trip to the database threads
/// (on PostgreSQL in one statement, decided on the benefit as read: see
/// `idempotency::run_ledger_change`).
async fn change_ledger(
    state: web::Data<AppState>,
    req: &HttpRequest,
    caller: Principal,
    context: &RequestContext,
    id: BenefitId,
    change: ledger::Change,
    body: &impl Serialize,
) -> Result<HttpResponse, ApiError> {
    let language = context.language;
    let (st, who, asked) = (state.clone(), caller.clone(), change.clone());
    idempotency::run_ledger_change(
        &state,
        req,
        &caller,
        context,
        body,
        move |tx, _| ledger::authorize(&st, tx, &who, id, &asked),
        move |tx, now, authorized| {
            let entry = ledger::record(tx, authorized, change.clone(), now)?;
            idempotency::stored(
                StatusCode::CREATED,
                &[],
                &LedgerChange::new(&entry, language),
            )
        },
    )
    .await
}

/// Record a consumption
///
/// An incident opened (support types) or planning days scheduled: uses `quantity` units.
/// Refused with 422 when the benefit is unmetered (`unmetered_benefit`), expired
/// (`benefit_expired`), not started, consumed through another operation (users, downloads,
/// vouchers: `consumed_elsewhere`), or when less remains (`not_enough_remaining`, with
/// `context.remaining`). Exact under any concurrency. Customer administrators, partners with
/// `manage_users`, operators. Send an `Idempotency-Key` to retry safely.
#[utoipa::path(
    tag = "ledger",
    params(
        ("benefit_id" = Uuid, Path, description = "The benefit"),
        ("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, nullable = false, description = "1 to 255 visible ASCII characters; replays the first answer for 24 h"),
    ),
    request_body = ConsumptionBody,
    responses(
        (status = 201, description = "Recorded", body = LedgerChange),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/benefits/{benefit_id}/consumptions")]
pub async fn consume(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    body: web::Json<ConsumptionBody>,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::default();
    let quantity = fields.check("quantity", Quantity::positive(body.quantity));
    let reference = fields
        .optional("reference", body.reference.as_deref(), Reference::parse)
        .map(|r| r.map(|r| r.as_str().to_owned()));
    let note = fields.optional("note", body.note.as_deref(), Reason::parse);
    valid!(fields; quantity, reference, note);
    let change = ledger::Change::Consumption {
        quantity,
        reference,
        note,
    };
    let id = BenefitId(path.into_inner());
    change_ledger(
        state,
        &req,
        caller,
        &context,
        id,
        change,
        &body.into_inner(),
    )
    .await
}

/// Adjust the quantity
///
/// Operators only. Adds (positive `quantity`) or removes (negative) entitled units with a
/// reason; never below what is used (`below_used`, 422). Send an `Idempotency-Key` to retry
/// safely.
#[utoipa::path(
    tag = "ledger",
    params(
        ("benefit_id" = Uuid, Path, description = "The benefit"),
        ("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, nullable = false, description = "1 to 255 visible ASCII characters; replays the first answer for 24 h"),
    ),
    request_body = AdjustmentBody,
    responses(
        (status = 201, description = "Recorded", body = LedgerChange),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/benefits/{benefit_id}/adjustments")]
pub async fn adjust(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    body: web::Json<AdjustmentBody>,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::default();
    let reason = fields.check("reason", Reason::parse(&body.reason));
    valid!(fields; reason);
    let change = ledger::Change::Adjustment {
        delta: body.quantity,
        reason,
    };
    let id = BenefitId(path.into_inner());
    change_ledger(
        state,
        &req,
        caller,
        &context,
        id,
        change,
        &body.into_inner(),
    )
    .await
}

/// One figure the quantity was computed from.
#[derive(Serialize, ToSchema)]
pub struct InputView {
    /// What the figure is, in the asked language.
    pub label: String,
    pub value: i64,
}

/// The ledger's total for one kind.
#[derive(Serialize, ToSchema)]
pub struct TotalView {
    pub kind: String,
    /// The kind for people, in the asked language.
    pub kind_label: String,
    pub quantity: i64,
}

/// How a benefit's quantity is computed.
#[derive(Serialize, ToSchema)]
pub struct CalculationView {
    pub benefit_id: Uuid,
    #[serde(rename = "type")]
    pub type_code: String,
    pub unit: String,
    /// The figures the operator recorded with the grant.
    pub inputs: Vec<InputView>,
    /// How the quantity is calculated, in the asked language.
    pub rule: String,
    pub quantity: Option<i64>,
    pub used: Option<i64>,
    pub remaining: Option<i64>,
    /// The ledger's totals by kind; they add up to `quantity` and `used`.
    pub totals: Vec<TotalView>,
    /// Whether the ledger adds up to the figures (always true; shown for audit).
    pub ledger_agrees: bool,
}

/// How the quantity is calculated
///
/// The inputs recorded with the grant, the rule in the asked language, and the ledger's
/// totals by kind, which add up to the benefit's figures.
#[utoipa::path(
    tag = "ledger",
    params(("benefit_id" = Uuid, Path, description = "The benefit")),
    responses(
        (status = 200, description = "The calculation", body = CalculationView),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/benefits/{benefit_id}/calculation")]
pub async fn calculation(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
) -> Result<web::Json<CalculationView>, ApiError> {
    let id = BenefitId(path.into_inner());
    let view = blocking(move || {
        let (held, _) = benefit_for(&state, &caller, id, Action::ReadOrganization)?;
        // Figures and totals from one snapshot: both agree even while consumptions go on.
        let (figures, totals) = state
            .db
            .figures_with_totals(id)?
            .ok_or_else(|| crate::access::Resource::Benefit.not_found())?;
        let benefit = domain::benefit::Benefit {
            figures,
            ..held.benefit
        };
        let rule = state
            .catalog()
            .get(&benefit.type_code)
            .map(|t| t.calculation.get(context.language).to_owned())
            .unwrap_or_default();
        let sums = Figures::from_entries(totals.iter().copied());
        let ledger_agrees = match benefit.figures {
            Some(f) => f.agree_with(totals.iter().copied()),
            None => sums == Figures::default(),
        };
        Ok(CalculationView {
            benefit_id: benefit.id.as_uuid(),
            type_code: benefit.type_code.as_str().to_owned(),
            unit: benefit.unit.code().to_owned(),
            inputs: benefit
                .calculation_inputs
                .iter()
                .map(|i| InputView {
                    label: i.label.get(context.language).to_owned(),
                    value: i.value,
                })
                .collect(),
            rule,
            quantity: benefit.quantity(),
            used: benefit.used(),
            remaining: benefit.remaining(),
            totals: totals
                .iter()
                .map(|(k, q)| TotalView {
                    kind: k.code().to_owned(),
                    kind_label: k.label().get(context.language).to_owned(),
                    quantity: *q,
                })
                .collect(),
            ledger_agrees,
        })
    })
    .await?;
    Ok(web::Json(view))
}

/// `?kind=&from=&to=&limit=&cursor=` of the history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only these kinds, comma-separated (e.g. `consumption,adjustment`).
    #[param(value_type = Option<openapi::text::EntryKinds>)]
    pub kind: Option<String>,
    /// From this time, inclusive (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Until this time, exclusive (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// How many items to return: 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Where to continue: the `next_cursor` of the previous page.
    #[param(value_type = Option<openapi::text::Cursor>)]
    pub cursor: Option<String>,
}

impl HistoryQuery {
    pub fn filter(&self) -> Result<LedgerFilter, ApiError> {
        let mut kinds = Vec::new();
        for code in self
            .kind
            .iter()
            .flat_map(|k| k.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            let kind = EntryKind::parse(code).ok_or_else(|| {
                let known: Vec<&str> = EntryKind::ALL.iter().map(|k| k.code()).collect();
                ApiError::invalid(
                    "kind",
                    Localized::new(
                        format!("{code:?} is not one of {}", known.join(", ")),
                        format!("{code:?} ne fait pas partie de {}", known.join(", ")),
                    ),
                )
            })?;
            kinds.push(kind);
        }
        Ok(LedgerFilter {
            kinds,
            from: self.from,
            to: self.to,
        })
    }
}

/// Transaction history
///
/// The benefit's ledger, newest first, page by page, filtered by kind and time range.
#[utoipa::path(
    tag = "ledger",
    params(("benefit_id" = Uuid, Path, description = "The benefit"), HistoryQuery),
    responses(
        (status = 200, description = "One page of the ledger", body = TransactionList),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/benefits/{benefit_id}/transactions")]
pub async fn history(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    query: web::Query<HistoryQuery>,
) -> Result<web::Json<TransactionList>, ApiError> {
    let id = BenefitId(path.into_inner());
    let filter = query.filter()?;
    let page = ListQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let found = blocking(move || {
        benefit_for(&state, &caller, id, Action::ReadOrganization)?;
        Ok(state.db.entries(id, &filter, &page)?)
    })
    .await?;
    Ok(web::Json(TransactionList {
        items: found
            .items
            .iter()
            .map(|e| TransactionView::new(e, context.language))
            .collect(),
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}
