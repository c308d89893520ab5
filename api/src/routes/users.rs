//! Users of a benefit: authorized contacts (support), participants (e-learning), Home Use
//! Program users. Adding consumes a unit where the type says so; removing gives it back where
//! it says so. Instructions and access codes go out through the outbox.

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
use crate::views::NotificationView;
use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Action, Actor};
use domain::catalog::{BenefitType, Catalog};
use domain::ids::BenefitId;
use domain::notification::{Message, Notification};
use domain::people::{self, BenefitUser, PeopleError};
use domain::ports::{HeldBenefit, UserRepository};
use domain::values::{EmailAddress, Name};
use domain::{Language, Localized};
use persistence::Tx;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
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

fn user_not_found() -> ApiError {
    ApiError::not_found(Localized::new(
        "No user with this id on this benefit.",
        "Aucun utilisateur avec cet identifiant sur cet avantage.",
    ))
}

fn type_of<'a>(catalog: &'a Catalog, held: &HeldBenefit) -> Result<&'a BenefitType, ApiError> {
    catalog
        .get(&held.benefit.type_code)
        .ok_or_else(ApiError::internal)
}

/// The instructions e-mail for one user.
fn instructions(
    held: &HeldBenefit,
    benefit_type: &BenefitType,
    user: &BenefitUser,
    language: Language,
    now: DateTime<Utc>,
) -> Notification {
    Notification::new(
        Uuid::new_v4(),
        held.account.organization_id,
        Some(user.email.clone()),
        &Message::Instructions {
            user: user.display_name.as_str(),
            benefit: &benefit_type.name,
            instructions: &benefit_type.end_user_instructions,
            // The instructions of a type with a program / access code (HUP) refer to it.
            code: held
                .benefit
                .access_code
                .as_deref()
                .filter(|_| benefit_type.features.has_access_code),
        },
        language,
        now,
    )
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
    let id = BenefitId(path.into_inner());
    let actor = {
        let (state, caller) = (state.clone(), caller.clone());
        blocking(move || benefit_for(&state, &caller, id, Action::ManageUsers)).await?
    }
    .1;
    let (catalog, language) = (state.catalog(), context.language);
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
            let benefit_type = type_of(&catalog, &held)?;
            let user = BenefitUser {
                id: Uuid::new_v4(),
                benefit_id: id,
                email,
                display_name,
                created_at: now,
                updated_at: now,
            };
            let domains = tx.domains(held.account.id)?;
            tx.insert_user(&user).map_err(ApiError::from)?;
            people::add_user(
                tx,
                benefit_type,
                &held.benefit,
                &user,
                &domains,
                &actor,
                now,
            )
            .map_err(ApiError::from)?;
            tx.audit(&audit::on_account(
                &actor,
                &held.account,
                AuditAction::UserAdded,
                TargetKind::User.target(user.id),
                Some(domain::audit::details::user_on(
                    &user.email,
                    &benefit_type.name,
                )),
                now,
            ))?;
            tx.notify(&instructions(&held, benefit_type, &user, language, now))?;
            idempotency::stored(StatusCode::CREATED, &[], &UserView::from(&user))
        },
    )
    .await
}

/// One user of a benefit, with the benefit and its type, as read in the write transaction.
struct UserOf<'a> {
    held: &'a HeldBenefit,
    benefit_type: &'a BenefitType,
    user: BenefitUser,
}

/// Runs `work` on the user `user_id` of the benefit `id`, which the caller may `action` on.
/// Blocking.
fn on_user<T>(
    state: &AppState,
    caller: &domain::auth::Principal,
    id: BenefitId,
    user_id: Uuid,
    action: Action,
    work: impl FnOnce(&mut Tx<'_>, UserOf<'_>, &Actor, DateTime<Utc>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let (_, actor) = benefit_for(state, caller, id, action)?;
    let catalog: Arc<Catalog> = state.catalog();
    let now = state.now();
    state.db.write(|tx| {
        let held = tx
            .benefit(id)?
            .ok_or_else(|| Resource::Benefit.not_found())?;
        let user = tx.user(id, user_id)?.ok_or_else(user_not_found)?;
        let benefit_type = type_of(&catalog, &held)?;
        let found = UserOf {
            held: &held,
            benefit_type,
            user,
        };
        work(tx, found, &actor, now)
    })
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
    let (id, user_id) = path.into_inner();
    let expected = crate::preconditions::if_match(&req)?;
    let mut fields = Fields::default();
    let email = match body.email.as_deref() {
        None => Some(None),
        Some(raw) => fields.check("email", EmailAddress::parse(raw)).map(Some),
    };
    let display_name = match body.display_name.as_deref() {
        None => Some(None),
        Some(raw) => fields.check("display_name", Name::parse(raw)).map(Some),
    };
    valid!(fields; email, display_name);
    let modified = blocking(move || {
        on_user(
            &state,
            &caller,
            BenefitId(id),
            user_id,
            Action::ManageUsers,
            |tx,
             UserOf {
                 held,
                 benefit_type,
                 user,
             },
             actor,
             now| {
                if expected.is_some_and(|e| !e.matches(user.version())) {
                    return Err(user_changed());
                }
                let mut changed = user.clone();
                if let Some(email) = email {
                    let domains = tx.domains(held.account.id)?;
                    people::check_domain(benefit_type, &email, &domains)
                        .map_err(|e| ApiError::refused(&e))?;
                    changed.email = email;
                }
                if let Some(name) = display_name {
                    changed.display_name = name;
                }
                // Strictly later than before, so the version always moves.
                changed.updated_at = now.max(user.updated_at + chrono::Duration::microseconds(1));
                if !tx
                    .update_user(&changed, user.updated_at)
                    .map_err(ApiError::from)?
                {
                    return Err(user_changed());
                }
                tx.audit(&audit::on_account(
                    actor,
                    &held.account,
                    AuditAction::UserModified,
                    TargetKind::User.target(user.id),
                    Some(domain::audit::details::user_changed(
                        &user.email,
                        &changed.email,
                    )),
                    now,
                ))?;
                Ok(changed)
            },
        )
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::ETAG,
            crate::preconditions::etag(modified.version()),
        ))
        .json(UserView::from(&modified)))
}

fn user_changed() -> ApiError {
    crate::preconditions::failed(Localized::new(
        "The user has changed since it was read: read it again.",
        "L'utilisateur a changé depuis sa lecture : relisez-le.",
    ))
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
    let (id, user_id) = path.into_inner();
    blocking(move || {
        on_user(
            &state,
            &caller,
            BenefitId(id),
            user_id,
            Action::ManageUsers,
            |tx,
             UserOf {
                 held,
                 benefit_type,
                 user,
             },
             actor,
             now| {
                people::remove_user(tx, benefit_type, &held.benefit, &user, actor, now)
                    .map_err(ApiError::from)?;
                tx.delete_user(user.id)?;
                tx.audit(&audit::on_account(
                    actor,
                    &held.account,
                    AuditAction::UserRemoved,
                    TargetKind::User.target(user.id),
                    Some(Localized::same(user.email.to_string())),
                    now,
                ))?;
                Ok(())
            },
        )
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
    let (id, user_id) = path.into_inner();
    let language = context.language;
    let mail = Mail {
        benefit: BenefitId(id),
        user: user_id,
        action: Action::ManageUsers,
        audited: AuditAction::InstructionsSent,
    };
    mail_user(
        &state,
        &req,
        &caller,
        &context,
        mail,
        move |held, benefit_type, user, now| {
            Ok(instructions(held, benefit_type, user, language, now))
        },
    )
    .await
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
    let (id, user_id) = path.into_inner();
    let language = context.language;
    let mail = Mail {
        benefit: BenefitId(id),
        user: user_id,
        action: Action::DistributeAccessCodes,
        audited: AuditAction::AccessCodeSent,
    };
    mail_user(
        &state,
        &req,
        &caller,
        &context,
        mail,
        move |held, benefit_type, user, now| {
            let code = match (
                &held.benefit.access_code,
                benefit_type.features.has_access_code,
            ) {
                (Some(code), true) => code,
                _ => return Err(ApiError::refused(&PeopleError::NoAccessCode)),
            };
            Ok(Notification::new(
                Uuid::new_v4(),
                held.account.organization_id,
                Some(user.email.clone()),
                &Message::AccessCode {
                    user: user.display_name.as_str(),
                    benefit: &benefit_type.name,
                    code,
                    instructions: &benefit_type.end_user_instructions,
                },
                language,
                now,
            ))
        },
    )
    .await
}

/// An e-mail to one user of a benefit: which, who may send it, and how it is audited.
struct Mail {
    benefit: BenefitId,
    user: Uuid,
    action: Action,
    audited: AuditAction,
}

/// Puts an e-mail to one user of a benefit in the outbox (composed by `compose`) with its
/// audit line, and answers 202 with the queued notification. With an `Idempotency-Key`, a
/// retry gets the same answer and the e-mail is queued once.
async fn mail_user(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    caller: &domain::auth::Principal,
    context: &RequestContext,
    mail: Mail,
    compose: impl FnOnce(
            &HeldBenefit,
            &BenefitType,
            &BenefitUser,
            DateTime<Utc>,
        ) -> Result<Notification, ApiError>
        + Send
        + 'static,
) -> Result<HttpResponse, ApiError> {
    let actor = {
        let (state, caller) = (state.clone(), caller.clone());
        blocking(move || Ok(benefit_for(&state, &caller, mail.benefit, mail.action)?.1)).await?
    };
    let catalog: Arc<Catalog> = state.catalog();
    let fingerprint = serde_json::json!({ "user": mail.user });
    let language = context.language;
    idempotency::run(state, req, caller, context, &fingerprint, move |tx, now| {
        let held = tx
            .benefit(mail.benefit)?
            .ok_or_else(|| Resource::Benefit.not_found())?;
        let user = tx
            .user(mail.benefit, mail.user)?
            .ok_or_else(user_not_found)?;
        let benefit_type = type_of(&catalog, &held)?;
        let n = compose(&held, benefit_type, &user, now)?;
        tx.notify(&n)?;
        tx.audit(&audit::on_account(
            &actor,
            &held.account,
            mail.audited,
            TargetKind::User.target(user.id),
            Some(Localized::same(user.email.to_string())),
            now,
        ))?;
        idempotency::stored(
            StatusCode::ACCEPTED,
            &[],
            &NotificationView::of(&n, language),
        )
    })
    .await
}
