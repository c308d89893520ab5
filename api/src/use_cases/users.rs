//! The people of a benefit — authorized contacts (support), participants (e-learning), Home
//! Use Program users. Adding one consumes a unit where the type says so, removing one gives
//! it back where it says so (`domain::people`); instructions and access codes go out through
//! the outbox. Each function works in the caller's write transaction.

use crate::access::Resource;
use crate::audit;
use crate::error::ApiError;
use crate::preconditions::Expected;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Action, Actor};
use domain::catalog::{BenefitType, Catalog};
use domain::ids::BenefitId;
use domain::notification::{Message, Notification};
use domain::people::{self, BenefitUser, PeopleError};
use domain::ports::HeldBenefit;
use domain::values::{EmailAddress, Name};
use domain::{Language, Localized};
use persistence::Tx;
use uuid::Uuid;

/// A person to add to a benefit.
pub struct NewUser {
    pub email: EmailAddress,
    pub display_name: Name,
}

/// One user of one benefit, as a path names it.
#[derive(Debug, Clone, Copy)]
pub struct UserRef {
    pub benefit: BenefitId,
    pub user: Uuid,
}

/// What a modification changes; `None` keeps the field.
pub struct UserChange {
    pub email: Option<EmailAddress>,
    pub display_name: Option<Name>,
}

/// An e-mail a person asks to be sent to a user.
#[derive(Debug, Clone, Copy)]
pub enum UserMail {
    /// The benefit's instructions again.
    Instructions,
    /// The Home Use Program's access code.
    AccessCode,
}

impl UserMail {
    /// What the caller must be allowed to do.
    pub fn action(self) -> Action {
        match self {
            UserMail::Instructions => Action::ManageUsers,
            UserMail::AccessCode => Action::DistributeAccessCodes,
        }
    }

    fn audited(self) -> AuditAction {
        match self {
            UserMail::Instructions => AuditAction::InstructionsSent,
            UserMail::AccessCode => AuditAction::AccessCodeSent,
        }
    }
}

/// Adds `new` to the benefit `id`: the domain checks its e-mail domain and consumes a unit
/// where the type says so; the audit line and the user's instructions in `language`.
pub fn add(
    tx: &mut Tx<'_>,
    catalog: &Catalog,
    actor: &Actor,
    id: BenefitId,
    new: NewUser,
    language: Language,
    now: DateTime<Utc>,
) -> Result<BenefitUser, ApiError> {
    let held = held(tx, id)?;
    let benefit_type = type_of(catalog, &held)?;
    let user = BenefitUser {
        id: Uuid::new_v4(),
        benefit_id: id,
        email: new.email,
        display_name: new.display_name,
        created_at: now,
        updated_at: now,
    };
    let domains = tx.domains(held.account.id)?;
    tx.insert_user(&user).map_err(ApiError::from)?;
    people::add_user(tx, benefit_type, &held.benefit, &user, &domains, actor, now)?;
    tx.audit(&audit::on_account(
        actor,
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
    Ok(user)
}

/// Changes the user `user_id` of the benefit `id` when it still is at `expected` (412
/// otherwise); a new e-mail must be in one of the account's domains where the type says so.
pub fn modify(
    tx: &mut Tx<'_>,
    catalog: &Catalog,
    actor: &Actor,
    at: UserRef,
    expected: Option<Expected>,
    change: UserChange,
    now: DateTime<Utc>,
) -> Result<BenefitUser, ApiError> {
    let (held, user) = user_of(tx, at)?;
    if expected.is_some_and(|e| !e.matches(user.version())) {
        return Err(user_changed());
    }
    let mut changed = user.clone();
    if let Some(email) = change.email {
        let domains = tx.domains(held.account.id)?;
        people::check_domain(type_of(catalog, &held)?, &email, &domains)
            .map_err(|e| ApiError::refused(&e))?;
        changed.email = email;
    }
    if let Some(name) = change.display_name {
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
}

/// Removes the user `user_id` of the benefit `id`, giving its unit back where the type says so.
pub fn remove(
    tx: &mut Tx<'_>,
    catalog: &Catalog,
    actor: &Actor,
    at: UserRef,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let (held, user) = user_of(tx, at)?;
    let details = Localized::same(user.email.to_string());
    remove_user(tx, catalog, actor, &held, &user, details, now)
}

/// Removes `user` from the benefit it holds (`held`), with `details` on the audit line: a
/// person's removal, or one of the users of a domain that is removed with it.
pub fn remove_user(
    tx: &mut Tx<'_>,
    catalog: &Catalog,
    actor: &Actor,
    held: &HeldBenefit,
    user: &BenefitUser,
    details: Localized,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    people::remove_user(tx, type_of(catalog, held)?, &held.benefit, user, actor, now)?;
    tx.delete_user(user.id)?;
    tx.audit(&audit::on_account(
        actor,
        &held.account,
        AuditAction::UserRemoved,
        TargetKind::User.target(user.id),
        Some(details),
        now,
    ))?;
    Ok(())
}

/// Queues `mail` to the user `user_id` of the benefit `id` in `language` (an access code only
/// where the benefit has one), with its audit line.
pub fn mail(
    tx: &mut Tx<'_>,
    catalog: &Catalog,
    actor: &Actor,
    at: UserRef,
    mail: UserMail,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Notification, ApiError> {
    let (held, user) = user_of(tx, at)?;
    let benefit_type = type_of(catalog, &held)?;
    let notification = match mail {
        UserMail::Instructions => instructions(&held, benefit_type, &user, language, now),
        UserMail::AccessCode => access_code(&held, benefit_type, &user, language, now)?,
    };
    tx.notify(&notification)?;
    tx.audit(&audit::on_account(
        actor,
        &held.account,
        mail.audited(),
        TargetKind::User.target(user.id),
        Some(Localized::same(user.email.to_string())),
        now,
    ))?;
    Ok(notification)
}

/// The `users` of an account's `domain`, removed with it.
pub fn remove_in_domain(
    tx: &mut Tx<'_>,
    catalog: &Catalog,
    actor: &Actor,
    users: &[BenefitUser],
    domain: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    for user in users {
        let held = held(tx, user.benefit_id)?;
        let details = domain::audit::details::user_with_domain(&user.email, domain);
        remove_user(tx, catalog, actor, &held, user, details, now)?;
    }
    Ok(())
}

fn held(tx: &mut Tx<'_>, id: BenefitId) -> Result<HeldBenefit, ApiError> {
    tx.benefit(id)?.ok_or_else(|| Resource::Benefit.not_found())
}

fn user_of(tx: &mut Tx<'_>, at: UserRef) -> Result<(HeldBenefit, BenefitUser), ApiError> {
    let held = held(tx, at.benefit)?;
    let user = tx.user(at.benefit, at.user)?.ok_or_else(user_not_found)?;
    Ok((held, user))
}

fn type_of<'a>(catalog: &'a Catalog, held: &HeldBenefit) -> Result<&'a BenefitType, ApiError> {
    catalog
        .get(&held.benefit.type_code)
        .ok_or_else(ApiError::internal)
}

fn user_not_found() -> ApiError {
    ApiError::not_found(Localized::new(
        "No user with this id on this benefit.",
        "Aucun utilisateur avec cet identifiant sur cet avantage.",
    ))
}

fn user_changed() -> ApiError {
    crate::preconditions::failed(Localized::new(
        "The user has changed since it was read: read it again.",
        "L'utilisateur a changé depuis sa lecture : relisez-le.",
    ))
}

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

fn access_code(
    held: &HeldBenefit,
    benefit_type: &BenefitType,
    user: &BenefitUser,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Notification, ApiError> {
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
}
