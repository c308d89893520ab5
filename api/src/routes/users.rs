//! Users of a benefit: authorized contacts (support), participants (e-learning), Home Use
//! Program users. Adding consumes a unit where the type says so; removing gives it back where
//! it says so. Instructions and access codes go out through the outbox.

use super::list_schema;
use crate::access::{acting_on_benefit, benefit_for};
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::{ApiError, Fields};
use crate::extract::{blocking, encode_cursor, ListQuery};
use crate::idempotency;
use crate::state::AppState;
use crate::use_cases::users::{self, NewUser, UserChange, UserMail, UserRef};
use crate::valid;
use crate::views::NotificationView;
use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::{Action, Principal};
use domain::ids::BenefitId;
use domain::people::BenefitUser;
use domain::ports::UserRepository;
use domain::values::{EmailAddress, Name};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A user of a benefit.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "2b4d6f8a-0c2e-4a6b-8d0f-2a4c6e8a0b1c", "benefit_id": "56a5b687-1e8f-45d3-98fd-679f126e0714",
    "email": "li.wei@contoso.com", "display_name": "Li Wei",
    "created_at": "2026-11-24T10:15:00Z", "updated_at": "2026-11-24T10:15:00Z", "version": 1764000000000000_i64}))]
pub struct UserView {
    pub id: Uuid,
    pub benefit_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Changes with every modification; send it as `If-Match` with a PATCH.
    pub version: i64,
}

impl From<&BenefitUser> for UserView {
    fn from(u: &BenefitUser) -> Self {
        Self {
            id: u.id,
            benefit_id: u.benefit_id.as_uuid(),
            email: u.email.to_string(),
            display_name: u.display_name.as_str().to_owned(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version(),
        }
    }
}

list_schema!(UserList, UserView);

/// A user to add.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "li.wei@contoso.com", "display_name": "Li Wei"}))]
pub struct AddUser {
    #[schema(value_type = openapi::text::Email)]
    pub email: String,
    /// 1 to 200 characters.
    #[schema(value_type = openapi::text::DisplayName)]
    pub display_name: String,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Li Wei (IT)"}))]
pub struct ModifyUser {
    #[schema(value_type = Option<openapi::text::Email>)]
    pub email: Option<String>,
    #[schema(value_type = Option<openapi::text::DisplayName>)]
    pub display_name: Option<String>,
}

/// The change a modification body asks for, every field checked.
fn user_change(body: &ModifyUser) -> Result<UserChange, ApiError> {
    let mut fields = Fields::default();
    let email = fields.optional("email", body.email.as_deref(), EmailAddress::parse);
    let display_name = fields.optional("display_name", body.display_name.as_deref(), Name::parse);
    valid!(fields; email, display_name);
    Ok(UserChange {
        email,
        display_name,
    })
}

fn user_ref(path: web::Path<(Uuid, Uuid)>) -> UserRef {
    let (benefit, user) = path.into_inner();
    UserRef {
        benefit: BenefitId(benefit),
        user,
    }
}

/// Users of a benefit
///
/// Oldest first. Customer administrators, permitted partners, operators.
#[utoipa::path(
    tag = "people",
    params(("benefit_id" = Uuid, Path, description = "The benefit"), ListQuery),
    responses(
        (status = 200, description = "One page of users", body = UserList),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/benefits/{benefit_id}/users")]
pub async fn list(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<UserList>, ApiError> {
    let id = BenefitId(path.into_inner());
    let page = query.page()?;
    let found = blocking(move || {
        benefit_for(&state, &caller, id, Action::ReadOrganization)?;
        Ok(state.db.users(id, &page)?)
    })
    .await?;
    Ok(web::Json(UserList {
        items: found.items.iter().map(UserView::from).collect(),
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}

/// Add a user
///
/// For the types that take users (24x7 support contacts, e-learning participants, Home Use
/// Program users; otherwise 422 `users_not_supported`). Where the type requires it, the
/// address's domain must be authorized on the account (422 `domain_not_authorized` naming
/// it in `context.domain`). Consumes one unit for e-learning and the Home Use Program (422
/// `not_enough_remaining` when none is left); support contacts are free. An address is a
/// user once per benefit (409 `user_exists`). The end-user instructions are e-mailed
/// through the outbox. Customer administrators and partners with `manage_users`. Send an
/// `Idempotency-Key` to retry safely.
#[utoipa::path(
    tag = "people",
    params(
        ("benefit_id" = Uuid, Path, description = "The benefit"),
        ("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, nullable = false, description = "1 to 255 visible ASCII characters; replays the first answer for 24 h"),
    ),
    request_body = AddUser,
    responses(
        (status = 201, description = "Added", body = UserView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/benefits/{benefit_id}/users")]
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    body: web::Json<AddUser>,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::default();
    let email = fields.check("email", EmailAddress::parse(&body.email));
    let display_name = fields.check("display_name", Name::parse(&body.display_name));
    valid!(fields; email, display_name);
    let new = NewUser {
        email,
        display_name,
    };
    let id = BenefitId(path.into_inner());
    let actor = acting_on_benefit(&state, &caller, id, Action::ManageUsers).await?;
    let (catalog, language) = (state.catalog(), context.language);
    let body = body.into_inner();
    idempotency::run(&state, &req, &caller, &context, &body, move |tx, now| {
        let user = users::add(tx, &catalog, &actor, id, new, language, now)?;
        idempotency::stored(StatusCode::CREATED, &[], &UserView::from(&user))
    })
    .await
}

/// Modify a user
///
/// Changes the address or the name. A new address must be in an authorized domain where the
/// type requires it, and not already a user of the benefit. Send the user's `version` as
/// `If-Match` to refuse the change (412) when someone else changed the user first; the answer
/// carries the new one as `ETag`. Customer administrators and partners with `manage_users`.
#[utoipa::path(
    tag = "people",
    params(
        ("benefit_id" = Uuid, Path, description = "The benefit"),
        ("user_id" = Uuid, Path, description = "The user"),
        ("If-Match" = Option<openapi::text::EntityTag>, Header, nullable = false, description = "The user's `version`"),
    ),
    request_body = ModifyUser,
    responses(
        (status = 200, description = "Modified", body = UserView,
         headers(("ETag" = String, description = "The user's new version"))),
        (status = 412, response = openapi::PreconditionFailed),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[patch("/benefits/{benefit_id}/users/{user_id}")]
pub async fn modify(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Json<ModifyUser>,
) -> Result<HttpResponse, ApiError> {
    let at = user_ref(path);
    let expected = crate::preconditions::if_match(&req)?;
    let change = user_change(&body)?;
    let modified = blocking(move || {
        let (_, actor) = benefit_for(&state, &caller, at.benefit, Action::ManageUsers)?;
        let (catalog, now) = (state.catalog(), state.now());
        state
            .db
            .write(|tx| users::modify(tx, &catalog, &actor, at, expected, change, now))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::ETAG,
            crate::preconditions::etag(modified.version()),
        ))
        .json(UserView::from(&modified)))
}

/// Remove a user
///
/// An e-learning participant's unit comes back; a Home Use Program licence stays used.
/// Customer administrators and partners with `manage_users`.
#[utoipa::path(
    tag = "people",
    params(
        ("benefit_id" = Uuid, Path, description = "The benefit"),
        ("user_id" = Uuid, Path, description = "The user"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[delete("/benefits/{benefit_id}/users/{user_id}")]
pub async fn remove(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let at = user_ref(path);
    blocking(move || {
        let (_, actor) = benefit_for(&state, &caller, at.benefit, Action::ManageUsers)?;
        let (catalog, now) = (state.catalog(), state.now());
        state
            .db
            .write(|tx| users::remove(tx, &catalog, &actor, at, now))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Resend the instructions
///
/// E-mails the benefit type's end-user instructions to the user again, in the request's
/// language, through the outbox. Customer administrators and partners with `manage_users`.
#[utoipa::path(
    tag = "people",
    params(
        ("benefit_id" = Uuid, Path, description = "The benefit"),
        ("user_id" = Uuid, Path, description = "The user"),
    ),
    responses(
        (status = 202, description = "Queued in the outbox", body = NotificationView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[post("/benefits/{benefit_id}/users/{user_id}/resend-instructions")]
pub async fn resend_instructions(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let sent = Sent {
        at: user_ref(path),
        mail: UserMail::Instructions,
    };
    mail_user(&state, &req, &caller, &context, sent).await
}

/// Distribute the access code
///
/// E-mails the benefit's program / access code (Home Use Program) to the user through the
/// outbox; 422 `no_access_code` for a benefit without one. Customer administrators and
/// partners with `distribute_access_codes`.
#[utoipa::path(
    tag = "people",
    params(
        ("benefit_id" = Uuid, Path, description = "The benefit"),
        ("user_id" = Uuid, Path, description = "The user"),
    ),
    responses(
        (status = 202, description = "Queued in the outbox", body = NotificationView),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 422, response = openapi::Unprocessable),
    )
)]
#[post("/benefits/{benefit_id}/users/{user_id}/access-code")]
pub async fn access_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let sent = Sent {
        at: user_ref(path),
        mail: UserMail::AccessCode,
    };
    mail_user(&state, &req, &caller, &context, sent).await
}

/// An e-mail asked for one user of a benefit.
struct Sent {
    at: UserRef,
    mail: UserMail,
}

/// Queues `sent` and answers 202 with the queued notification. With an `Idempotency-Key`, a
/// retry gets the same answer and the e-mail is queued once.
async fn mail_user(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    caller: &Principal,
    context: &RequestContext,
    Sent { at, mail }: Sent,
) -> Result<HttpResponse, ApiError> {
    let actor = acting_on_benefit(state, caller, at.benefit, mail.action()).await?;
    let (catalog, language) = (state.catalog(), context.language);
    let fingerprint = serde_json::json!({ "user": at.user });
    idempotency::run(state, req, caller, context, &fingerprint, move |tx, now| {
        let n = users::mail(tx, &catalog, &actor, at, mail, language, now)?;
        let view = NotificationView::of(&n, language);
        idempotency::stored(StatusCode::ACCEPTED, &[], &view)
    })
    .await
}
