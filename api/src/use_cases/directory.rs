//! The directory operators keep — organizations, their purchasing accounts, partners — and
//! the settings an organization or a partner changes itself (contact e-mails, language).
//! Who may do which is `domain::auth`.

use crate::access::{authorize_on, Resource};
use crate::audit;
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{authorize_on_partner, Action, Actor, Denied, Principal};
use domain::entities::{Organization, Partner, PurchasingAccount};
use domain::ids::{OrganizationId, PartnerId};
use domain::values::EmailAddress;
use domain::{Language, Localized};
use persistence::Tx;

/// Records a new organization and its audit line in the caller's transaction.
pub fn add_organization(
    tx: &mut Tx<'_>,
    actor: &Actor,
    organization: &Organization,
) -> Result<(), ApiError> {
    tx.insert_organization(organization)?;
    tx.audit(&audit::event(
        actor,
        Some(organization.id),
        AuditAction::OrganizationCreated,
        TargetKind::Organization.target(organization.id.as_uuid()),
        Some(Localized::same(organization.name.as_str())),
        organization.created_at,
    ))?;
    Ok(())
}

/// Records a new purchasing account of an existing organization (404 otherwise) and its
/// audit line in the caller's transaction.
pub fn add_account(
    tx: &mut Tx<'_>,
    actor: &Actor,
    account: &PurchasingAccount,
) -> Result<(), ApiError> {
    if tx.organization(account.organization_id)?.is_none() {
        return Err(Resource::Organization.not_found());
    }
    tx.insert_account(account)?;
    tx.audit(&audit::event(
        actor,
        Some(account.organization_id),
        AuditAction::AccountCreated,
        TargetKind::Account.target(account.id.as_uuid()),
        Some(Localized::same(account.name.as_str())),
        account.created_at,
    ))?;
    Ok(())
}

/// Records a new partner and its audit line in the caller's transaction.
pub fn add_partner(tx: &mut Tx<'_>, actor: &Actor, partner: &Partner) -> Result<(), ApiError> {
    tx.insert_partner(partner)?;
    tx.audit(&audit::event(
        actor,
        None,
        AuditAction::PartnerCreated,
        TargetKind::Partner.target(partner.id.as_uuid()),
        Some(Localized::same(partner.name.as_str())),
        partner.created_at,
    ))?;
    Ok(())
}

/// What a change of an organization's settings sets; `None` keeps the setting.
pub struct OrganizationChange {
    /// At least one address.
    pub contact_emails: Option<Vec<EmailAddress>>,
    pub preferred_language: Option<Language>,
}

/// Changes the settings of the organization `id`, which `caller` may manage. Blocking.
pub fn update_organization(
    state: &AppState,
    caller: &Principal,
    id: OrganizationId,
    change: OrganizationChange,
) -> Result<Organization, ApiError> {
    let action = Action::ManageOrganizationSettings;
    let actor = authorize_on(state, caller, id, action, Resource::Organization)?;
    let now = state.now();
    state.db.write(|tx| {
        let mut organization = tx
            .organization(id)?
            .ok_or_else(|| Resource::Organization.not_found())?;
        if let Some(emails) = change.contact_emails {
            organization.contact_emails = emails;
        }
        if let Some(language) = change.preferred_language {
            organization.preferred_language = language;
        }
        tx.update_organization(&organization)?;
        tx.audit(&audit::event(
            &actor,
            Some(id),
            AuditAction::OrganizationUpdated,
            TargetKind::Organization.target(id.as_uuid()),
            Some(domain::audit::details::organization_updated(
                organization.contact_emails.len(),
                organization.preferred_language,
            )),
            now,
        ))?;
        Ok(organization)
    })
}

/// What a change of a partner's settings sets; `None` keeps the setting.
pub struct PartnerChange {
    pub contact_email: Option<EmailAddress>,
    pub preferred_language: Option<Language>,
}

/// Whether `caller` may change the settings of the partner `id` (`domain::auth`), before
/// anything is read.
pub fn authorize_partner_change(caller: &Principal, id: PartnerId) -> Result<Actor, ApiError> {
    authorize_on_partner(caller, id).map_err(|denied| match denied {
        Denied::Forbidden => ApiError::forbidden(Localized::new(
            "Only the partner itself and operators change a partner's settings.",
            "Seuls le partenaire lui-même et les opérateurs modifient ses paramètres.",
        )),
        other => other.into(),
    })
}

/// Changes the settings of the partner `id` as `actor` (see [`authorize_partner_change`]).
/// Blocking.
pub fn update_partner(
    state: &AppState,
    actor: &Actor,
    id: PartnerId,
    change: PartnerChange,
    now: DateTime<Utc>,
) -> Result<Partner, ApiError> {
    state.db.write(|tx| {
        let mut partner = tx.partner(id)?.ok_or_else(partner_not_found)?;
        if let Some(email) = change.contact_email {
            partner.contact_email = Some(email);
        }
        if let Some(language) = change.preferred_language {
            partner.preferred_language = language;
        }
        tx.update_partner(&partner)?;
        tx.audit(&audit::event(
            actor,
            None,
            AuditAction::PartnerUpdated,
            TargetKind::Partner.target(id.as_uuid()),
            Some(domain::audit::details::partner_updated(
                partner.preferred_language,
            )),
            now,
        ))?;
        Ok(partner)
    })
}

/// A partner that does not exist, or that the caller may not see.
pub fn partner_not_found() -> ApiError {
    ApiError::not_found(Localized::new(
        "No partner with this id.",
        "Aucun partenaire avec cet identifiant.",
    ))
}
