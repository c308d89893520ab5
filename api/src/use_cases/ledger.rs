//! A person's change of a benefit's ledger: a consumption or an operator's adjustment. The
//! rule is `domain::metering`; this is the order of the work in one write transaction.

use crate::access::{authorize_on_held, Resource};
use crate::audit;
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Action, Actor, Principal};
use domain::ids::BenefitId;
use domain::ledger::EntryKind;
use domain::metering::{self, LedgerEntry};
use domain::ports::HeldBenefit;
use domain::values::{Quantity, Reason};
use persistence::Tx;

/// What is asked of the ledger.
#[derive(Debug, Clone)]
pub enum Change {
    /// Uses `quantity` units (an incident opened, planning days scheduled).
    Consumption {
        quantity: Quantity,
        reference: Option<String>,
        note: Option<Reason>,
    },
    /// Adds (positive) or removes (negative) entitled units, with why.
    Adjustment { delta: i64, reason: Reason },
}

impl Change {
    /// What the caller must be allowed to do.
    fn action(&self) -> Action {
        match self {
            Change::Consumption { .. } => Action::Consume,
            Change::Adjustment { .. } => Action::GrantBenefits,
        }
    }

    /// The audit action, the ledger kind and the signed amount the audit line tells.
    fn audited(&self) -> (AuditAction, EntryKind, i64) {
        match self {
            Change::Consumption { quantity, .. } => (
                AuditAction::BenefitConsumed,
                EntryKind::Consumption,
                quantity.get(),
            ),
            Change::Adjustment { delta, .. } => {
                (AuditAction::BenefitAdjusted, EntryKind::Adjustment, *delta)
            }
        }
    }
}

/// The benefit a change is asked on and who acts, once the caller may make it.
pub struct Authorized {
    held: HeldBenefit,
    actor: Actor,
}

/// Reads the benefit `id` in the write transaction and decides whether `caller` may make
/// `change` on it (a benefit the caller may not see is not found).
pub fn authorize(
    state: &AppState,
    tx: &mut Tx<'_>,
    caller: &Principal,
    id: BenefitId,
    change: &Change,
) -> Result<Authorized, ApiError> {
    let held = tx
        .benefit(id)?
        .ok_or_else(|| Resource::Benefit.not_found())?;
    let actor = authorize_on_held(state, caller, &held, change.action(), Resource::Benefit)?;
    Ok(Authorized { held, actor })
}

/// Records `change`: its audit line, then the change and its ledger entry, in the caller's
/// transaction (a refused change rolls both back).
pub fn record(
    tx: &mut Tx<'_>,
    authorized: Authorized,
    change: Change,
    now: DateTime<Utc>,
) -> Result<LedgerEntry, ApiError> {
    let Authorized { held, actor } = authorized;
    let (action, kind, amount) = change.audited();
    // The audit line first: the change then holds the benefit's row lock for as short a time
    // as possible (on PostgreSQL the line is held back and written in the change's own
    // statement, see persistence::Tx).
    tx.audit(&audit::on_account(
        &actor,
        &held.account,
        action,
        TargetKind::Benefit.target(held.benefit.id.as_uuid()),
        Some(domain::audit::details::ledger_change(
            kind,
            amount,
            held.benefit.unit,
        )),
        now,
    ))?;
    let entry = match change {
        Change::Consumption {
            quantity,
            reference,
            note,
        } => metering::consume(tx, &held.benefit, quantity, &actor, reference, note, now)?,
        Change::Adjustment { delta, reason } => {
            metering::adjust(tx, &held.benefit, delta, &reason, &actor, now)?
        }
    };
    Ok(entry)
}
