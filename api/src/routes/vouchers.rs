//! Training vouchers: assign days of a Training Vouchers benefit to one person for a course,
//! revoke (the days come back), redeem. Expiry is time's: see `crate::maintenance`.

use super::list_schema;
use crate::access::{benefit_for, Resource};
use crate::audit;
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::{blocking, encode_cursor, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::valid;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Action, Actor, Principal};
use domain::ids::BenefitId;
use domain::notification::{Message, Notification};
use domain::ports::{VoucherRepository, WriteError};
use domain::values::{EmailAddress, Name};
use domain::voucher::{self, NewVoucher, Voucher, VoucherDays, VoucherError};
use domain::Localized;
use persistence::Tx;
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

pub(crate) fn refused(e: WriteError<VoucherError>) -> ApiError {
    match e {
        WriteError::Refused(refusal) => {
            let status = match refusal {
                VoucherError::InvalidTransition { .. } => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let mut error = ApiError::refused(status, &refusal);
            if let Some(remaining) = refusal.remaining() {
                error = error.with_context(serde_json::json!({ "remaining": remaining }));
            }
            if let VoucherError::InvalidTransition { from, allowed, .. } = &refusal {
                let allowed: Vec<&str> = allowed.iter().map(|s| s.code()).collect();
                error = error.with_context(
                    serde_json::json!({"current_status": from.code(), "allowed": allowed}),
                );
            }
            error
        }
        WriteError::Storage(s) => s.into(),
    }
}

fn not_found() -> ApiError {
    Resource::Voucher.not_found()
}

fn changed_meanwhile() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "changed_meanwhile",
        Localized::new(
            "The voucher changed while this request ran: read it again.",
            "Le bon a changé pendant cette requête : relisez-le.",
        ),
    )
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
    let actor = {
        let (state, caller) = (state.clone(), caller.clone());
        blocking(move || benefit_for(&state, &caller, id, Action::ManageVouchers)).await?
    }
    .1;
    let language = context.language;
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
            let (voucher, _entry) =
                voucher::assign(tx, &held.benefit, Uuid::new_v4(), new, &actor, now)
                    .map_err(refused)?;
            tx.insert_voucher(&voucher)?;
            let organization = held.account.organization_id;
            tx.audit(&audit::event(
                &actor,
                Some(organization),
                AuditAction::VoucherAssigned,
                (TargetKind::Voucher, voucher.id),
                Some(domain::audit::details::voucher_assigned(
                    voucher.days,
                    &voucher.holder_email,
                )),
                now,
            ))?;
            tx.notify(&Notification::new(
                Uuid::new_v4(),
                organization,
                Some(voucher.holder_email.clone()),
                &Message::VoucherAssigned {
                    holder: voucher.holder_name.as_str(),
                    course: voucher.course.as_str(),
                    days: voucher.days,
                    expires_at: voucher.expires_at,
                },
                language,
                now,
            ))?;
            idempotency::stored(
                StatusCode::CREATED,
                &[],
                &VoucherView::at(&voucher, now, language),
            )
        },
    )
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
    crate::access::authorize_on(
        state,
        caller,
        held.account.organization_id,
        action,
        Resource::Voucher,
    )
}

/// The move of one voucher inside the transaction: what it became, and what to audit.
type Move = fn(
    &mut Tx<'_>,
    &domain::benefit::Benefit,
    &Voucher,
    &Actor,
    DateTime<Utc>,
) -> Result<Voucher, ApiError>;

async fn move_voucher(
    (state, req, caller, context): (web::Data<AppState>, HttpRequest, Principal, RequestContext),
    id: Uuid,
    (action, audited): (Action, AuditAction),
    apply: Move,
) -> Result<HttpResponse, ApiError> {
    let actor = {
        let (state, caller) = (state.clone(), caller.clone());
        blocking(move || voucher_for(&state, &caller, id, action)).await?
    };
    let language = context.language;
    idempotency::run(
        &state,
        &req,
        &caller,
        &context,
        &serde_json::Value::Null,
        move |tx, now| {
            let (current, held) = tx.voucher(id)?.ok_or_else(not_found)?;
            let moved = apply(tx, &held.benefit, &current, &actor, now)?;
            // The version check first: of two concurrent moves, the second finds it changed
            // before touching the ledger.
            if !tx.update_voucher(&moved, current.version)? {
                return Err(changed_meanwhile());
            }
            let organization = held.account.organization_id;
            tx.audit(&audit::event(
                &actor,
                Some(organization),
                audited,
                (TargetKind::Voucher, id),
                Some(domain::audit::details::voucher_moved(
                    current.status,
                    moved.status,
                )),
                now,
            ))?;
            if audited == AuditAction::VoucherRevoked {
                tx.notify(&Notification::new(
                    Uuid::new_v4(),
                    organization,
                    Some(moved.holder_email.clone()),
                    &Message::VoucherRevoked {
                        holder: moved.holder_name.as_str(),
                        course: moved.course.as_str(),
                    },
                    language,
                    now,
                ))?;
            }
            idempotency::stored(StatusCode::OK, &[], &VoucherView::at(&moved, now, language))
        },
    )
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
    move_voucher(
        (state, req, caller, context),
        path.into_inner(),
        (Action::ManageVouchers, AuditAction::VoucherRevoked),
        |tx, benefit, current, actor, now| {
            voucher::revoke(tx, benefit, current, actor, now)
                .map(|(v, _)| v)
                .map_err(refused)
        },
    )
    .await
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
    move_voucher(
        (state, req, caller, context),
        path.into_inner(),
        (Action::RedeemVouchers, AuditAction::VoucherRedeemed),
        |_, _, current, _, now| {
            voucher::redeem(current, now).map_err(|e| refused(WriteError::Refused(e)))
        },
    )
    .await
}

/// The actor time acts as when it expires vouchers.
pub fn system_actor() -> Actor {
    Actor::time("voucher expiry")
}

/// Records the expiry of one voucher time has expired (the sweeper). Blocking.
pub fn expire(state: &AppState, id: Uuid, now: DateTime<Utc>) -> Result<bool, ApiError> {
    let actor = system_actor();
    state.db.write(|tx| {
        let Some((current, held)) = tx.voucher(id)? else {
            return Ok(false);
        };
        let Some((expired, _)) =
            voucher::record_expiry(tx, &held.benefit, &current, &actor, now).map_err(refused)?
        else {
            return Ok(false);
        };
        if !tx.update_voucher(&expired, current.version)? {
            return Err(changed_meanwhile());
        }
        tx.audit(&audit::event(
            &actor,
            Some(held.account.organization_id),
            AuditAction::VoucherExpired,
            (TargetKind::Voucher, id),
            Some(domain::audit::details::voucher_expired(
                expired.days,
                expired.days_returned == Some(true),
            )),
            now,
        ))?;
        Ok(true)
    })
}
