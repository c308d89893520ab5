//! Training vouchers that time acts on. The rules are `domain::voucher`.

use crate::access::Resource;
use crate::audit;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Action, Actor};
use domain::ids::BenefitId;
use domain::notification::{Message, Notification};
use domain::voucher::{self, NewVoucher, Voucher};
use domain::Language;
use domain::Localized;
use persistence::Tx;
use uuid::Uuid;

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
        let Some((expired, _)) = voucher::record_expiry(tx, &held.benefit, &current, &actor, now)
            .map_err(ApiError::from)?
        else {
            return Ok(false);
        };
        if !tx.update_voucher(&expired, current.version)? {
            return Err(changed_meanwhile());
        }
        tx.audit(&audit::on_account(
            &actor,
            &held.account,
            AuditAction::VoucherExpired,
            TargetKind::Voucher.target(id),
            Some(domain::audit::details::voucher_expired(
                expired.days,
                expired.days_returned == Some(true),
            )),
            now,
        ))?;
        Ok(true)
    })
}

pub fn changed_meanwhile() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "changed_meanwhile",
        Localized::new(
            "The voucher changed while this request ran: read it again.",
            "Le bon a changé pendant cette requête : relisez-le.",
        ),
    )
}

/// A person's move of an assigned voucher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoucherMove {
    /// Its days come back to the benefit; the holder is told.
    Revoke,
    /// The holder used it.
    Redeem,
}

impl VoucherMove {
    /// What the caller must be allowed to do.
    pub fn action(self) -> Action {
        match self {
            VoucherMove::Revoke => Action::ManageVouchers,
            VoucherMove::Redeem => Action::RedeemVouchers,
        }
    }

    fn audited(self) -> AuditAction {
        match self {
            VoucherMove::Revoke => AuditAction::VoucherRevoked,
            VoucherMove::Redeem => AuditAction::VoucherRedeemed,
        }
    }
}

/// Moves the voucher `id` in the caller's transaction (`actor` may make the move): the state
/// machine of `domain::voucher` decides, the version check comes before the ledger is touched
/// (of two concurrent moves, the second finds it changed), then the audit line and, for a
/// revocation, the holder's e-mail in `language`.
pub fn move_voucher(
    tx: &mut Tx<'_>,
    actor: &Actor,
    id: Uuid,
    asked: VoucherMove,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Voucher, ApiError> {
    let (current, held) = tx.voucher(id)?.ok_or_else(not_found)?;
    let moved = match asked {
        VoucherMove::Revoke => voucher::revoke(tx, &held.benefit, &current, actor, now)?.0,
        VoucherMove::Redeem => voucher::redeem(&current, now).map_err(|e| ApiError::refused(&e))?,
    };
    if !tx.update_voucher(&moved, current.version)? {
        return Err(changed_meanwhile());
    }
    tx.audit(&audit::on_account(
        actor,
        &held.account,
        asked.audited(),
        TargetKind::Voucher.target(id),
        Some(domain::audit::details::voucher_moved(
            current.status,
            moved.status,
        )),
        now,
    ))?;
    if asked == VoucherMove::Revoke {
        tx.notify(&Notification::new(
            Uuid::new_v4(),
            held.account.organization_id,
            Some(moved.holder_email.clone()),
            &Message::VoucherRevoked {
                holder: moved.holder_name.as_str(),
                course: moved.course.as_str(),
            },
            language,
            now,
        ))?;
    }
    Ok(moved)
}

/// Assigns `new` from the benefit `id` in the caller's transaction (`actor` may manage its
/// vouchers): `domain::voucher` takes its days from the benefit; the audit line and the
/// holder's e-mail in `language`.
pub fn assign(
    tx: &mut Tx<'_>,
    actor: &Actor,
    id: BenefitId,
    new: NewVoucher,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Voucher, ApiError> {
    let held = tx
        .benefit(id)?
        .ok_or_else(|| Resource::Benefit.not_found())?;
    let (voucher, _entry) = voucher::assign(tx, &held.benefit, Uuid::new_v4(), new, actor, now)?;
    tx.insert_voucher(&voucher)?;
    tx.audit(&audit::on_account(
        actor,
        &held.account,
        AuditAction::VoucherAssigned,
        TargetKind::Voucher.target(voucher.id),
        Some(domain::audit::details::voucher_assigned(
            voucher.days,
            &voucher.holder_email,
        )),
        now,
    ))?;
    tx.notify(&Notification::new(
        Uuid::new_v4(),
        held.account.organization_id,
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
    Ok(voucher)
}

pub fn not_found() -> ApiError {
    Resource::Voucher.not_found()
}
