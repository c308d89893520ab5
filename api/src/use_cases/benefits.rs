//! Granting a benefit to a purchasing account (operators). The rules of a grant are
//! `domain::benefit::Grant`; one unexpired benefit per type is the store's to hold.

use crate::audit;
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::Actor;
use domain::benefit::{Benefit, Grant};
use domain::entities::PurchasingAccount;
use domain::ids::BenefitId;
use persistence::Tx;

/// What is granted: a new benefit's id, the checked grant, and its access code when the
/// type has one.
pub struct Granted {
    pub id: BenefitId,
    pub grant: Grant,
    pub access_code: Option<String>,
}

/// Grants `granted` to `account` in the caller's transaction: the benefit, its first ledger
/// row, and the audit line (409 when the account already holds an unexpired one of the type).
pub fn grant(
    tx: &mut Tx<'_>,
    actor: &Actor,
    account: &PurchasingAccount,
    granted: &Granted,
    now: DateTime<Utc>,
) -> Result<Benefit, ApiError> {
    let benefit = tx.grant(
        account.id,
        granted.id,
        &granted.grant,
        granted.access_code.clone(),
        actor,
        now,
    )?;
    tx.audit(&audit::on_account(
        actor,
        account,
        AuditAction::BenefitGranted,
        TargetKind::Benefit.target(benefit.id.as_uuid()),
        domain::audit::details::granted(benefit.figures.map(|f| f.quantity), benefit.unit),
        now,
    ))?;
    Ok(benefit)
}
