//! Partner permissions: what a customer lets its licensing partner do on its behalf.

use crate::auth::{Principal, PrincipalKind, Role, Scope};
use crate::error::{Refusal, RefusalKind};
use crate::i18n::Localized;
use crate::ids::{OrganizationId, PartnerId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long a request may wait for an answer before it expires.
pub const PENDING_LIFETIME: Duration = Duration::days(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionStatus {
    Pending,
    Approved,
    Declined,
    Withdrawn,
    Removed,
    Expired,
}

impl PermissionStatus {
    pub const ALL: [PermissionStatus; 6] = [
        PermissionStatus::Pending,
        PermissionStatus::Approved,
        PermissionStatus::Declined,
        PermissionStatus::Withdrawn,
        PermissionStatus::Removed,
        PermissionStatus::Expired,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PermissionStatus::Pending => "pending",
            PermissionStatus::Approved => "approved",
            PermissionStatus::Declined => "declined",
            PermissionStatus::Withdrawn => "withdrawn",
            PermissionStatus::Removed => "removed",
            PermissionStatus::Expired => "expired",
        }
    }

    pub fn parse(code: &str) -> Option<PermissionStatus> {
        PermissionStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// What a person reads for the status, in English and French.
    pub fn label(self) -> crate::Localized {
        let (en, fr) = match self {
            PermissionStatus::Pending => ("Pending", "En attente"),
            PermissionStatus::Approved => ("Approved", "Approuvée"),
            PermissionStatus::Declined => ("Declined", "Refusée"),
            PermissionStatus::Withdrawn => ("Withdrawn", "Retirée"),
            PermissionStatus::Removed => ("Removed", "Supprimée"),
            PermissionStatus::Expired => ("Expired", "Expirée"),
        };
        crate::Localized::new(en, fr)
    }
}

/// A permission as stored: `status` is the last recorded move; [`Permission::status_at`]
/// adds the moves time makes on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub partner_id: PartnerId,
    pub status: PermissionStatus,
    pub scopes: Vec<Scope>,
    /// End date of the permission once approved.
    pub expires_at: Option<DateTime<Utc>>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Permission {
    /// The status at `now`: an approved permission past its end date, or a request left
    /// unanswered for 90 days, reads as expired even before anything records it.
    pub fn status_at(&self, now: DateTime<Utc>) -> PermissionStatus {
        match self.status {
            PermissionStatus::Approved if self.expires_at.is_some_and(|end| now >= end) => {
                PermissionStatus::Expired
            }
            PermissionStatus::Pending if now >= self.requested_at + PENDING_LIFETIME => {
                PermissionStatus::Expired
            }
            other => other,
        }
    }
}

/// Who (or what) makes a move of a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mover {
    /// The partner that asked.
    Partner,
    /// A customer administrator of the organization.
    CustomerAdmin,
    /// Time: an end date passed, or a request waited 90 days.
    Time,
}

impl Mover {
    pub fn code(self) -> &'static str {
        match self {
            Mover::Partner => "partner",
            Mover::CustomerAdmin => "customer_admin",
            Mover::Time => "time",
        }
    }

    /// Who makes the move, for people.
    pub fn label(self) -> crate::Localized {
        match self {
            Mover::Partner => crate::Localized::new("the partner", "le partenaire"),
            Mover::CustomerAdmin => crate::Localized::new("an administrator", "un administrateur"),
            Mover::Time => crate::Localized::new("time", "le temps"),
        }
    }

    pub fn parse(code: &str) -> Option<Mover> {
        [Mover::Partner, Mover::CustomerAdmin, Mover::Time]
            .into_iter()
            .find(|m| m.code() == code)
    }
}

/// One allowed move: from a status (`None`: a new request) to another, by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Move {
    pub from: Option<PermissionStatus>,
    pub to: PermissionStatus,
    pub by: Mover,
}

/// The state machine of PRODUCT.md §8, as data: every move not listed is refused.
pub const MOVES: [Move; 7] = {
    use PermissionStatus::*;
    const fn m(from: Option<PermissionStatus>, to: PermissionStatus, by: Mover) -> Move {
        Move { from, to, by }
    }
    [
        m(None, Pending, Mover::Partner),
        m(Some(Pending), Approved, Mover::CustomerAdmin),
        m(Some(Pending), Declined, Mover::CustomerAdmin),
        m(Some(Pending), Withdrawn, Mover::Partner),
        m(Some(Approved), Removed, Mover::CustomerAdmin),
        m(Some(Approved), Expired, Mover::Time),
        m(Some(Pending), Expired, Mover::Time),
    ]
};

/// The moves allowed from `from`.
pub fn moves_from(from: PermissionStatus) -> Vec<Move> {
    MOVES.into_iter().filter(|m| m.from == Some(from)).collect()
}

/// The statuses a person moves a permission to: every move of [`MOVES`] but the request and
/// time's. What a decision accepts, in the order of `MOVES`.
pub fn decided_statuses() -> Vec<PermissionStatus> {
    let mut statuses = Vec::new();
    for m in MOVES {
        if m.from.is_some() && m.by != Mover::Time && !statuses.contains(&m.to) {
            statuses.push(m.to);
        }
    }
    statuses
}

impl PermissionStatus {
    /// Whether the permission still counts for "one pending or approved permission per
    /// partner and organization".
    pub fn is_live(self) -> bool {
        matches!(self, PermissionStatus::Pending | PermissionStatus::Approved)
    }
}

/// A refused request or move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    /// The caller's role never makes this move (403).
    #[error("a {role:?} never moves a permission to {to:?}")]
    NotYourMove { role: Role, to: PermissionStatus },
    /// The move is not allowed from the current status (409); the allowed ones are listed.
    #[error("no move from {from:?} to {to:?}")]
    InvalidTransition {
        from: PermissionStatus,
        to: PermissionStatus,
        allowed: Vec<Move>,
    },
    /// The partner already holds a pending or approved permission on the organization (409).
    #[error("the partner already holds a live permission ({existing:?})")]
    AlreadyHeld {
        /// The permission held (unknown when a concurrent request won the race).
        existing: Option<(Uuid, PermissionStatus)>,
    },
    /// The end date is not in the future (400).
    #[error("the end date is not in the future")]
    EndInPast,
    /// The permission was asked for no scope at all (400).
    #[error("no scope")]
    NoScope,
}

impl Refusal for PermissionError {
    fn kind(&self) -> RefusalKind {
        match self {
            PermissionError::NotYourMove { .. } => RefusalKind::Forbidden,
            PermissionError::InvalidTransition { .. } | PermissionError::AlreadyHeld { .. } => {
                RefusalKind::Conflict
            }
            PermissionError::EndInPast => RefusalKind::Field("expires_at"),
            PermissionError::NoScope => RefusalKind::Field("scopes"),
        }
    }

    fn context(&self) -> Option<serde_json::Value> {
        match self {
            PermissionError::InvalidTransition { from, allowed, .. } => {
                let allowed: Vec<_> = allowed
                    .iter()
                    .map(|m| serde_json::json!({"status": m.to.code(), "by": m.by.code()}))
                    .collect();
                Some(serde_json::json!({"current_status": from.code(), "allowed": allowed}))
            }
            PermissionError::AlreadyHeld {
                existing: Some((id, status)),
            } => Some(serde_json::json!({
                "existing_permission_id": id, "existing_status": status.code()
            })),
            _ => None,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            PermissionError::NotYourMove { .. } => "forbidden_transition",
            PermissionError::InvalidTransition { .. } => "invalid_transition",
            PermissionError::AlreadyHeld { .. } => "permission_exists",
            PermissionError::EndInPast => "end_in_past",
            PermissionError::NoScope => "no_scope",
        }
    }

    fn message(&self) -> Localized {
        match self {
            PermissionError::NotYourMove { role, to } => Localized::new(
                format!(
                    "A {} cannot move a permission to \"{}\": {}.",
                    role.label().en,
                    to.label().en,
                    who_moves(*to).0
                ),
                format!(
                    "Le rôle {} ne peut pas passer une autorisation à « {} » : {}.",
                    role.label().fr,
                    to.label().fr,
                    who_moves(*to).1
                ),
            ),
            PermissionError::InvalidTransition { from, to, allowed } => {
                // Labels, not codes: the message is read by people (the codes are in `context`).
                let list = |l: crate::Language| {
                    allowed
                        .iter()
                        .map(|m| format!("{} ({})", m.to.label().get(l), m.by.label().get(l)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let final_ = allowed.is_empty();
                Localized::new(
                    format!(
                        "A permission that is {} cannot become {}; {}.",
                        from.label().en,
                        to.label().en,
                        if final_ { "it is final".into() } else { format!("allowed: {}", list(crate::Language::En)) }
                    ),
                    format!(
                        "Une autorisation à l'état « {} » ne peut pas passer à « {} » ; {}.",
                        from.label().fr,
                        to.label().fr,
                        if final_ { "cet état est définitif".into() } else { format!("possible : {}", list(crate::Language::Fr)) }
                    ),
                )
            }
            PermissionError::AlreadyHeld { existing } => match existing {
                Some((id, status)) => Localized::new(
                    format!(
                        "This partner already holds a permission on the organization ({id}) that is {}.",
                        status.label().en
                    ),
                    format!(
                        "Ce partenaire détient déjà une autorisation sur l'organisation ({id}) à l'état « {} ».",
                        status.label().fr
                    ),
                ),
                None => Localized::new(
                    "This partner already holds a pending or approved permission on the organization.",
                    "Ce partenaire détient déjà une autorisation en attente ou approuvée sur l'organisation.",
                ),
            },
            PermissionError::EndInPast => Localized::new(
                "The end date must be in the future.",
                "La date de fin doit être dans le futur.",
            ),
            PermissionError::NoScope => Localized::new(
                "Ask for at least one scope, or leave scopes out to ask for all.",
                "Demandez au moins un périmètre, ou omettez-les pour les demander tous.",
            ),
        }
    }
}

fn who_moves(to: PermissionStatus) -> (&'static str, &'static str) {
    match MOVES.iter().find(|m| m.to == to).map(|m| m.by) {
        Some(Mover::CustomerAdmin) => (
            "only the organization's administrators decide on a request",
            "seuls les administrateurs de l'organisation décident d'une demande",
        ),
        Some(Mover::Partner) => (
            "only the partner that asked withdraws its request",
            "seul le partenaire demandeur retire sa demande",
        ),
        _ => (
            "this happens with time only",
            "cela n'arrive qu'avec le temps",
        ),
    }
}

/// A recorded move, for the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionEvent {
    pub permission_id: Uuid,
    pub from: Option<PermissionStatus>,
    pub to: PermissionStatus,
    pub by: Mover,
    /// The token `sub` of who moved it (`None` for time).
    pub subject: Option<String>,
    pub at: DateTime<Utc>,
}

/// A move decided by [`Permission::decide`], to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub permission: Permission,
    pub event: PermissionEvent,
}

impl Permission {
    /// A partner's new request. `scopes`: `None` asks for all; the list is deduplicated and
    /// kept in catalog order.
    pub fn request(
        id: Uuid,
        partner: PartnerId,
        organization: OrganizationId,
        scopes: Option<Vec<Scope>>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Permission, PermissionError> {
        let mut scopes = scopes.unwrap_or_else(|| Scope::ALL.to_vec());
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(PermissionError::NoScope);
        }
        if expires_at.is_some_and(|end| end <= now) {
            return Err(PermissionError::EndInPast);
        }
        Ok(Permission {
            id,
            organization_id: organization,
            partner_id: partner,
            status: PermissionStatus::Pending,
            scopes,
            expires_at,
            requested_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// The first event of a new request.
    pub fn requested_event(&self, subject: &str) -> PermissionEvent {
        PermissionEvent {
            permission_id: self.id,
            from: None,
            to: PermissionStatus::Pending,
            by: Mover::Partner,
            subject: Some(subject.to_owned()),
            at: self.requested_at,
        }
    }

    /// Whether the caller may see this permission: the partner that asked, the
    /// organization's administrators, operators.
    pub fn visible_to(&self, principal: &Principal) -> bool {
        match principal.kind {
            PrincipalKind::Operator => true,
            PrincipalKind::CustomerAdmin(org) => org == self.organization_id,
            PrincipalKind::Partner(p) => p == self.partner_id,
        }
    }

    /// When time moved it to `expired`, if it has (the instant it happened).
    pub fn expired_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match (self.status, self.status_at(now)) {
            (PermissionStatus::Approved, PermissionStatus::Expired) => self.expires_at,
            (PermissionStatus::Pending, PermissionStatus::Expired) => {
                Some(self.requested_at + PENDING_LIFETIME)
            }
            _ => None,
        }
    }

    /// The time-made expiry not yet recorded, if any.
    pub fn pending_expiry(&self, now: DateTime<Utc>) -> Option<PermissionEvent> {
        self.expired_at(now).map(|at| PermissionEvent {
            permission_id: self.id,
            from: Some(self.status),
            to: PermissionStatus::Expired,
            by: Mover::Time,
            subject: None,
            at,
        })
    }

    /// The permission with the time-made expiry applied.
    pub fn settled(&self, now: DateTime<Utc>) -> Permission {
        match self.pending_expiry(now) {
            Some(event) => Permission {
                status: PermissionStatus::Expired,
                updated_at: event.at,
                version: self.version + 1,
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// Decides a move asked by `principal` (visibility is checked before: see
    /// [`Permission::visible_to`]). The caller's role is checked first (a partner never
    /// decides, an administrator never withdraws, an operator never moves), then the
    /// status at `now`.
    pub fn decide(
        &self,
        principal: &Principal,
        to: PermissionStatus,
        now: DateTime<Utc>,
    ) -> Result<Transition, PermissionError> {
        let not_yours = PermissionError::NotYourMove {
            role: principal.role(),
            to,
        };
        let by = match principal.kind {
            PrincipalKind::CustomerAdmin(_) => Mover::CustomerAdmin,
            PrincipalKind::Partner(_) => Mover::Partner,
            PrincipalKind::Operator => return Err(not_yours),
        };
        if !MOVES.iter().any(|m| m.to == to && m.by == by) {
            return Err(not_yours);
        }
        // A lapsed permission reads as expired, from which nobody moves it: an accepted
        // move always starts from the stored status.
        let current = self.settled(now);
        let allowed = moves_from(current.status);
        if !allowed.iter().any(|m| m.to == to && m.by == by) {
            return Err(PermissionError::InvalidTransition {
                from: current.status,
                to,
                allowed: allowed
                    .into_iter()
                    .filter(|m| m.by != Mover::Time)
                    .collect(),
            });
        }
        let event = PermissionEvent {
            permission_id: self.id,
            from: Some(current.status),
            to,
            by,
            subject: Some(principal.subject.clone()),
            at: now,
        };
        Ok(Transition {
            permission: Permission {
                status: to,
                updated_at: now,
                version: current.version + 1,
                ..current
            },
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn permission(status: PermissionStatus, expires_at: Option<DateTime<Utc>>) -> Permission {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Permission {
            id: Uuid::nil(),
            organization_id: OrganizationId(Uuid::nil()),
            partner_id: PartnerId(Uuid::nil()),
            status,
            scopes: Scope::ALL.to_vec(),
            expires_at,
            requested_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn time_expires_approved_and_pending_permissions() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let end = start + Duration::days(10);
        let approved = permission(PermissionStatus::Approved, Some(end));
        assert_eq!(
            approved.status_at(end - Duration::seconds(1)),
            PermissionStatus::Approved
        );
        assert_eq!(approved.status_at(end), PermissionStatus::Expired);
        let pending = permission(PermissionStatus::Pending, None);
        assert_eq!(
            pending.status_at(start + Duration::days(89)),
            PermissionStatus::Pending
        );
        assert_eq!(
            pending.status_at(start + Duration::days(90)),
            PermissionStatus::Expired
        );
        let declined = permission(PermissionStatus::Declined, None);
        assert_eq!(
            declined.status_at(start + Duration::days(900)),
            PermissionStatus::Declined
        );
    }
    fn who(kind: PrincipalKind) -> Principal {
        Principal {
            subject: "someone".into(),
            kind,
        }
    }

    /// Every (status, target, caller) combination against the table of PRODUCT.md §8,
    /// written out independently of [`MOVES`].
    #[test]
    fn only_the_moves_of_the_table_are_allowed() {
        use PermissionStatus::*;
        let expected = [
            (Pending, Approved, Role::CustomerAdmin),
            (Pending, Declined, Role::CustomerAdmin),
            (Pending, Withdrawn, Role::Partner),
            (Approved, Removed, Role::CustomerAdmin),
        ];
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let callers = [
            who(PrincipalKind::CustomerAdmin(OrganizationId(Uuid::nil()))),
            who(PrincipalKind::Partner(PartnerId(Uuid::nil()))),
            who(PrincipalKind::Operator),
        ];
        for from in PermissionStatus::ALL {
            let p = permission(from, None);
            for to in PermissionStatus::ALL {
                for caller in &callers {
                    let result = p.decide(caller, to, at);
                    let should = expected.contains(&(from, to, caller.role()));
                    assert_eq!(
                        result.is_ok(),
                        should,
                        "{from:?} -> {to:?} by {:?}",
                        caller.role()
                    );
                    match result {
                        Ok(t) => {
                            assert_eq!(t.permission.status, to);
                            assert_eq!(t.event.from, Some(from));
                            assert_eq!(t.permission.version, p.version + 1);
                        }
                        Err(PermissionError::InvalidTransition { allowed, .. }) => {
                            assert_eq!(
                                allowed.iter().map(|m| m.to).collect::<Vec<_>>(),
                                expected
                                    .iter()
                                    .filter(|(f, _, _)| *f == from)
                                    .map(|(_, t, _)| *t)
                                    .collect::<Vec<_>>()
                            );
                        }
                        Err(PermissionError::NotYourMove { role, .. }) => {
                            assert!(!expected.iter().any(|(_, t, r)| *t == to && *r == role));
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            }
        }
        assert_eq!(MOVES.iter().filter(|m| m.by == Mover::Time).count(), 2);
        assert_eq!(
            decided_statuses(),
            [
                PermissionStatus::Approved,
                PermissionStatus::Declined,
                PermissionStatus::Withdrawn,
                PermissionStatus::Removed
            ]
        );
    }

    #[test]
    fn a_move_on_a_lapsed_permission_sees_it_expired_and_records_the_expiry() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let admin = who(PrincipalKind::CustomerAdmin(OrganizationId(Uuid::nil())));
        let pending = permission(PermissionStatus::Pending, None);
        let late = start + Duration::days(91);
        match pending.decide(&admin, PermissionStatus::Approved, late) {
            Err(PermissionError::InvalidTransition { from, allowed, .. }) => {
                assert_eq!(from, PermissionStatus::Expired);
                assert!(allowed.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let expiry = pending.pending_expiry(late).unwrap();
        assert_eq!(expiry.at, start + PENDING_LIFETIME);
        assert_eq!(expiry.by, Mover::Time);
        let end = start + Duration::days(30);
        let approved = permission(PermissionStatus::Approved, Some(end));
        assert!(approved
            .decide(
                &admin,
                PermissionStatus::Removed,
                end - Duration::seconds(1)
            )
            .is_ok());
        assert!(approved
            .decide(&admin, PermissionStatus::Removed, end)
            .is_err());
        assert_eq!(approved.settled(end).status, PermissionStatus::Expired);
    }

    #[test]
    fn requests_default_to_every_scope_and_refuse_past_end_dates() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let (p, o) = (PartnerId(Uuid::nil()), OrganizationId(Uuid::nil()));
        let all = Permission::request(Uuid::nil(), p, o, None, None, now).unwrap();
        assert_eq!(all.scopes, Scope::ALL.to_vec());
        assert_eq!(all.status, PermissionStatus::Pending);
        let some = Permission::request(
            Uuid::nil(),
            p,
            o,
            Some(vec![
                Scope::ManageUsers,
                Scope::ManageDomains,
                Scope::ManageUsers,
            ]),
            None,
            now,
        )
        .unwrap();
        assert_eq!(some.scopes, vec![Scope::ManageDomains, Scope::ManageUsers]);
        assert_eq!(
            Permission::request(Uuid::nil(), p, o, Some(vec![]), None, now),
            Err(PermissionError::NoScope)
        );
        assert_eq!(
            Permission::request(Uuid::nil(), p, o, None, Some(now), now),
            Err(PermissionError::EndInPast)
        );
    }

    #[test]
    fn visibility_follows_the_parties() {
        let p = permission(PermissionStatus::Pending, None);
        assert!(p.visible_to(&who(PrincipalKind::Operator)));
        assert!(p.visible_to(&who(PrincipalKind::Partner(PartnerId(Uuid::nil())))));
        assert!(!p.visible_to(&who(PrincipalKind::Partner(PartnerId(Uuid::from_u128(2))))));
        assert!(
            !p.visible_to(&who(PrincipalKind::CustomerAdmin(OrganizationId(
                Uuid::from_u128(2)
            ))))
        );
    }
}
