//! Training Vouchers ⇄ Planning Services conversion: a quote (a dry run) and the conversion
//! itself. The rule, its ratio and its limits are `domain::conversion`.

use crate::access::account_for;
use crate::audit;
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Action, Actor, Principal};
use domain::conversion::{
    Attribution, ConversionRecord, Direction, Position, Quote, TRAINING_TO_PLANNING,
};
use domain::entities::PurchasingAccount;
use domain::ports::{BenefitRepository, ConversionRepository};
use persistence::Tx;
use uuid::Uuid;

/// What is asked: a direction and the planning days (for a quote, `None` is the maximum).
#[derive(Debug, Clone, Copy)]
pub struct Asked<N> {
    pub direction: Direction,
    pub planning_days: N,
}

/// Quotes `asked` on the account `id` for `caller` (who may read it). Blocking.
pub fn quote(
    state: &AppState,
    caller: &Principal,
    id: domain::ids::AccountId,
    asked: Asked<Option<i64>>,
    now: DateTime<Utc>,
) -> Result<Quote, ApiError> {
    account_for(state, caller, id, Action::ReadOrganization)?;
    let rule = TRAINING_TO_PLANNING;
    let benefits = state.db.benefits_of_account(id)?;
    let converted = state.db.converted_days(id, &rule)?;
    let position = Position::of(&rule, &benefits, converted, now);
    rule.quote(asked.direction, &position, asked.planning_days, now)
        .map_err(|e| ApiError::refused(&e))
}

/// Converts `asked` on `account` in the caller's transaction: both benefits locked, the rule
/// applied to what they then hold (both ledger rows, referenced `conversion:<id>`), the
/// conversion record and the audit line.
pub fn convert(
    tx: &mut Tx<'_>,
    actor: &Actor,
    account: &PurchasingAccount,
    asked: Asked<i64>,
    now: DateTime<Utc>,
) -> Result<ConversionRecord, ApiError> {
    let rule = TRAINING_TO_PLANNING;
    let (id, direction, n) = (account.id, asked.direction, asked.planning_days);
    // Lock both benefits first, then read what the rule looks at.
    let held = tx.account_benefits(id)?;
    let first = Position::of(&rule, &held, 0, now);
    let ids: Vec<_> = first
        .source
        .iter()
        .chain(&first.target)
        .map(|b| b.id)
        .collect();
    // Where the locks had to wait, the figures may have moved: read them again.
    let benefits = if tx.lock_benefits(&ids)? {
        tx.account_benefits(id)?
    } else {
        held
    };
    let converted = tx.converted(id, &rule)?;
    let position = Position::of(&rule, &benefits, converted, now);
    let record_id = Uuid::new_v4();
    let reference = format!("conversion:{record_id}");
    let by = Attribution {
        actor,
        reference: &reference,
    };
    rule.convert(tx, direction, &position, n, by, now)?;
    let (source, target) = match (position.source, position.target) {
        (Some(s), Some(t)) => (s.id, t.id),
        _ => return Err(ApiError::internal()),
    };
    let record = ConversionRecord {
        id: record_id,
        account_id: id,
        rule,
        direction,
        source_benefit_id: source,
        target_benefit_id: target,
        source_days: rule.ratio * n,
        target_days: n,
        actor: actor.clone(),
        at: now,
    };
    tx.insert_conversion(&record)?;
    tx.audit(&audit::on_account(
        actor,
        account,
        AuditAction::ConversionMade,
        TargetKind::Conversion.target(record_id),
        Some(domain::audit::details::conversion(
            direction == Direction::Forward,
            rule.ratio * n,
            n,
        )),
        now,
    ))?;
    Ok(record)
}
