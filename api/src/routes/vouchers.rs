//! Training vouchers: assign days of a Training Vouchers benefit to one person for a course,
//! revoke (the days come back), redeem. Expiry is time's: see `crate::maintenance`.

use super::list_schema;
use crate::access::{acting_on_benefit, benefit_for, Resource};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::{blocking, encode_cursor, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::vouchers::{self, not_found, VoucherMove};
use crate::valid;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::{Action, Actor, Principal};
use domain::ids::BenefitId;
use domain::ports::VoucherRepository;
use domain::values::{EmailAddress, Name};
use domain::voucher::{NewVoucher, Voucher, VoucherDays};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A training voucher.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "7b9d1f3a-5c7e-4a9b-8d1f-3a5c7e9b1d2f", "benefit_id": "0e2a4c6e-8a0c-4e2a-9c4e-6a8c0e2a4c6e",
    "holder_email": "marie.dubois@contoso.com", "holder_name": "Marie Dubois",
    "course": "AZ-104 Microsoft Azure Administrator", "days": 3, "status": "assigned",
    "status_label": "Assigned",
    "assigned_at": "2026-11-02T09:00:00Z", "expires_at": "2027-05-01T09:00:00Z",
    "updated_at": "2026-11-02T09:00:00Z", "days_returned": null
}))]
pub struct VoucherView {
    pub id: Uuid,
    pub benefit_id: Uuid,
    pub holder_email: String,
    pub holder_name: String,
    pub course: String,
    /// Training days on the voucher, 1 to 5.
    pub days: i64,
    /// `assigned`, `redeemed`, `revoked` or `expired` — as of now: an assigned voucher past
    /// `expires_at` reads `expired` at once.
    pub status: String,
    /// The status as a person reads it, in the answer's language.
    pub status_label: String,
    pub assigned_at: DateTime<Utc>,
    /// 180 days after assignment.
    pub expires_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For an expired voucher whose expiry is recorded: whether its days came back to the
    /// pool (they do while the benefit is active).
    pub days_returned: Option<bool>,
}

impl VoucherView {
    fn at(v: &Voucher, now: DateTime<Utc>, language: domain::Language) -> Self {
        Self {
            id: v.id,
            benefit_id: v.benefit_id.as_uuid(),
            holder_email: v.holder_email.to_string(),
            holder_name: v.holder_name.as_str().to_owned(),
            course: v.course.as_str().to_owned(),
            days: v.days,
            status: v.status_at(now).code().to_owned(),
            status_label: v.status_at(now).label().get(language).to_owned(),
            assigned_at: v.assigned_at,
            expires_at: v.expires_at,
            updated_at: v.updated_at,
            days_returned: v.days_returned,
        }
    }
}

list_schema!(VoucherList, VoucherView);

/// A voucher to assign.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"holder_email": "marie.dubois@contoso.com", "holder_name": "Marie Dubois",
    "course": "AZ-104 Microsoft Azure Administrator", "days": 3}))]
pub struct AssignBody {
    #[schema(value_type = openapi::text::Email)]
    pub holder_email: String,
    /// 1 to 200 characters.
    #[schema(value_type = openapi::text::DisplayName)]
    pub holder_name: String,
    /// The course, 1 to 200 characters.
    #[schema(value_type = openapi::text::DisplayName)]
    pub course: String,
    /// 1 to 5 training days.
    #[schema(minimum = 1, maximum = 5)]
    #[serde(deserialize_with = "crate::extract::integer")]
    pub days: i64,
}

/// Vouchers of a benefit
///
/// Oldest first, with each voucher's status as of now. Customer administrators, permitted
/// partners, operators.
#[utoipa::path(
    tag = "vouchers",
    params(("benefit_id" = Uuid, Path, description = "The Training Vouchers benefit"), ListQuery),
    responses(
        (status = 200, description = "One page of vouchers", body = VoucherList),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/benefits/{benefit_id}/vouchers")]
pub async fn list(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<VoucherList>, ApiError> {
    let id = BenefitId(path.into_inner());
    let page = query.page()?;
    let now = state.now();
    let found = blocking(move || {
        benefit_for(&state, &caller, id, Action::ReadOrganization)?;
        Ok(state.db.vouchers(id, &page)?)
    })
    .await?;
    Ok(web::Json(VoucherList {
        items: found
            .items
            .iter()
            .map(|v| VoucherView::at(v, now, context.language))
            .collect(),
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}

/// Assign a voucher
///
/// Puts `days` (1 to 5) training days of an active Training Vouchers benefit on one person
/// for a course; the days are used at once and come back if the voucher is revoked or
/// expires unredeemed (180 days) while the benefit is active. Refused with 422 when fewer
/// days remain (`not_enough_remaining`, with `context.remaining`), when the benefit has
/// expired, or is not a Training Vouchers benefit. The holder is e-mailed through the
/// outbox. Customer administrators and partners with `manage_vouchers`. Send an
/// `Idempotency-Key` to retry safely.
#[utoipa::path(
    tag = "vouchers",
    params(
        ("benefit_id" = Uuid, Path, description = "The Training Vouchers benefit"),
        ("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, nullable = false, description = "1 to 255 visible ASCII characters; replays the first answer for 24 h"),
    ),
    request_body = AssignBody,
    responses(
        (status = 201, description = "Assigned", body = VoucherView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/benefits/{benefit_id}/vouchers")]
pub async fn assign(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::default();
    let holder_email = fields.check("holder_email", EmailAddress::parse(&body.holder_email));
    let holder_name = fields.check("holder_name", Name::parse(&body.holder_name));
    let course = fields.check("course", Name::parse(&body.course));
    let days = fields.check("days", VoucherDays::new(body.days));
    valid!(fields; holder_email, holder_name, course, days);
    let new = NewVoucher {
        holder_email,
        holder_name,
        course,
        days,
    };
    let id = BenefitId(path.into_inner());
    let actor = acting_on_benefit(&state, &caller, id, Action::ManageVouchers).await?;
    let language = context.language;
    let body = body.into_inner();
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, now| {
        let voucher = vouchers::assign(tx, &actor, id, new, language, now)?;
        let view = VoucherView::at(&voucher, now, language);
        idempotency::stored(StatusCode::CREATED, &[], &view)
    })
    .await
}

/// Loads a voucher and checks the caller may do `action` on it; the actor. Blocking.
fn voucher_for(
    state: &AppState,
    caller: &Principal,
    id: Uuid,
    action: Action,
) -> Result<Actor, ApiError> {
    let (_, held) = state.db.voucher(id)?.ok_or_else(not_found)?;
    crate::access::authorize_on_held(state, caller, &held, action, Resource::Voucher)
}

/// Runs `asked` with the request's idempotency key, after checking the caller may make it.
async fn move_voucher(
    state: web::Data<AppState>,
    req: &HttpRequest,
    caller: Principal,
    context: &RequestContext,
    id: Uuid,
    asked: VoucherMove,
) -> Result<HttpResponse, ApiError> {
    let actor = {
        let (state, caller) = (state.clone(), caller.clone());
        blocking(move || voucher_for(&state, &caller, id, asked.action())).await?
    };
    let language = context.language;
    let body = &serde_json::Value::Null;
    idempotency::run(&state, req, &caller, context, body, move |tx, now| {
        let moved = vouchers::move_voucher(tx, &actor, id, asked, language, now)?;
        idempotency::stored(StatusCode::OK, &[], &VoucherView::at(&moved, now, language))
    })
    .await
}

/// Revoke a voucher
///
/// Only an `assigned` voucher: its days come back to the benefit (409 `invalid_transition`
/// otherwise, with the allowed moves). The holder is e-mailed. Customer administrators and
/// partners with `manage_vouchers`. Send an `Idempotency-Key` to retry safely.
#[utoipa::path(
    tag = "vouchers",
    params(
        ("voucher_id" = Uuid, Path, description = "The voucher"),
        ("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, nullable = false, description = "1 to 255 visible ASCII characters; replays the first answer for 24 h"),
    ),
    responses(
        (status = 200, description = "Revoked", body = VoucherView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/vouchers/{voucher_id}/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    move_voucher(state, &req, caller, &context, id, VoucherMove::Revoke).await
}

/// Redeem a voucher
///
/// The training took place: an `assigned` voucher becomes `redeemed` and its days stay
/// used (409 `invalid_transition` otherwise). Customer administrators, partners with
/// `manage_vouchers`, operators.
#[utoipa::path(
    tag = "vouchers",
    params(
        ("voucher_id" = Uuid, Path, description = "The voucher"),
        ("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, nullable = false, description = "1 to 255 visible ASCII characters; replays the first answer for 24 h"),
    ),
    responses(
        (status = 200, description = "Redeemed", body = VoucherView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/vouchers/{voucher_id}/redeem")]
pub async fn redeem(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    move_voucher(state, &req, caller, &context, id, VoucherMove::Redeem).await
}
