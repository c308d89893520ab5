//! Partner permissions: requests, moves with their history, expiry by time, and the lookup
//! every partner call goes through.

use crate::connection::storage;
use crate::convert::{corrupt, from_db, json, to_db, uuid};
use crate::schema::{partner_permissions, permission_events};
use crate::tx::Tx;
use crate::{Database, DbConnection};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::audit::{details, AuditAction, AuditEvent, TargetKind};
use domain::auth::{ActivePermission, Actor, Scope};
use domain::entities::Organization;
use domain::error::StorageError;
use domain::error::WriteError;
use domain::ids::{OrganizationId, PartnerId};
use domain::notification;
use domain::page::{Page, PageRequest};
use domain::permission::{
    Mover, Permission, PermissionError, PermissionEvent, PermissionStatus, Transition,
    PENDING_LIFETIME,
};
use domain::ports::PermissionRepository;
use uuid::Uuid;

#[derive(Queryable)]
struct PermissionRow {
    id: String,
    organization_id: String,
    partner_id: String,
    status: String,
    scopes: String,
    expires_at: Option<NaiveDateTime>,
    requested_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    version: i64,
}

fn scopes(raw: &str) -> Result<Vec<Scope>, StorageError> {
    let codes: Vec<String> = json("scopes", raw)?;
    codes
        .iter()
        .map(|c| Scope::parse(c).ok_or_else(|| corrupt("scope", c)))
        .collect()
}

fn status(raw: &str) -> Result<PermissionStatus, StorageError> {
    PermissionStatus::parse(raw).ok_or_else(|| corrupt("permission status", raw))
}

impl PermissionRow {
    fn into_domain(self) -> Result<Permission, StorageError> {
        Ok(Permission {
            id: uuid(&self.id)?,
            organization_id: OrganizationId(uuid(&self.organization_id)?),
            partner_id: PartnerId(uuid(&self.partner_id)?),
            status: status(&self.status)?,
            scopes: scopes(&self.scopes)?,
            expires_at: self.expires_at.map(from_db),
            requested_at: from_db(self.requested_at),
            updated_at: from_db(self.updated_at),
            version: self.version,
        })
    }
}

#[derive(Queryable)]
struct EventRow {
    permission_id: String,
    _seq: i64,
    from_status: Option<String>,
    to_status: String,
    mover: String,
    subject: Option<String>,
    created_at: NaiveDateTime,
}

impl EventRow {
    fn into_domain(self) -> Result<PermissionEvent, StorageError> {
        Ok(PermissionEvent {
            permission_id: uuid(&self.permission_id)?,
            from: self.from_status.as_deref().map(status).transpose()?,
            to: status(&self.to_status)?,
            by: Mover::parse(&self.mover).ok_or_else(|| corrupt("mover", &self.mover))?,
            subject: self.subject,
            at: from_db(self.created_at),
        })
    }
}

fn load(conn: &mut DbConnection, id: Uuid) -> Result<Option<Permission>, StorageError> {
    partner_permissions::table
        .find(id.to_string())
        .first::<PermissionRow>(conn)
        .optional()
        .map_err(storage)?
        .map(PermissionRow::into_domain)
        .transpose()
}

fn append_event(conn: &mut DbConnection, event: &PermissionEvent) -> Result<(), StorageError> {
    use permission_events::dsl as e;
    let id = event.permission_id.to_string();
    let last: Option<i64> = e::permission_events
        .filter(e::permission_id.eq(&id))
        .select(diesel::dsl::max(e::seq))
        .first(conn)
        .map_err(storage)?;
    diesel::insert_into(e::permission_events)
        .values((
            e::permission_id.eq(&id),
            e::seq.eq(last.unwrap_or(0) + 1),
            e::from_status.eq(event.from.map(PermissionStatus::code)),
            e::to_status.eq(event.to.code()),
            e::mover.eq(event.by.code()),
            e::subject.eq(&event.subject),
            e::created_at.eq(to_db(event.at)),
        ))
        .execute(conn)
        .map_err(storage)?;
    Ok(())
}

/// Writes `updated` over the stored permission if its version is still `expected`, and
/// appends the events. `false`: someone else moved it first.
fn store_move(
    conn: &mut DbConnection,
    updated: &Permission,
    expected: i64,
    events: &[&PermissionEvent],
) -> Result<bool, StorageError> {
    use partner_permissions::dsl as p;
    let changed = diesel::update(
        p::partner_permissions
            .filter(p::id.eq(updated.id.to_string()))
            .filter(p::version.eq(expected)),
    )
    .set((
        p::status.eq(updated.status.code()),
        p::updated_at.eq(to_db(updated.updated_at)),
        p::version.eq(updated.version),
    ))
    .execute(conn)
    .map_err(storage)?;
    if changed == 0 {
        return Ok(false);
    }
    for event in events {
        append_event(conn, event)?;
    }
    Ok(true)
}

/// Records the expiry time made on `permission`, if it has one not yet recorded.
fn settle(
    conn: &mut DbConnection,
    permission: Permission,
    now: DateTime<Utc>,
) -> Result<Permission, StorageError> {
    match permission.pending_expiry(now) {
        None => Ok(permission),
        Some(event) => {
            let settled = permission.settled(now);
            if store_move(conn, &settled, permission.version, &[&event])? {
                // Both sides are told, in the same transaction as the move (PRODUCT.md §8).
                let organization =
                    super::directory::load_organization(conn, permission.organization_id)?
                        .ok_or_else(|| {
                            StorageError(format!(
                                "permission {} has no organization",
                                permission.id
                            ))
                        })?;
                let partner = super::directory::load_partner(conn, permission.partner_id)?
                    .ok_or_else(|| {
                        StorageError(format!("permission {} has no partner", permission.id))
                    })?;
                let was_approved = permission.status == PermissionStatus::Approved;
                super::records::insert_audit(
                    conn,
                    &AuditEvent {
                        account_id: None,
                        id: domain::ids::append_only_id(event.at),
                        organization_id: Some(permission.organization_id),
                        actor: Actor::time("permission expiry"),
                        action: AuditAction::PermissionExpired,
                        target_kind: TargetKind::Permission,
                        target_id: permission.id,
                        detail: Some(details::permission_moved(
                            Some(permission.status),
                            PermissionStatus::Expired,
                        )),
                        at: event.at,
                    },
                )?;
                for notice in notification::permission_expired(
                    Uuid::new_v4,
                    &organization,
                    &partner,
                    was_approved,
                    now,
                ) {
                    super::records::insert_notification(conn, &notice)?;
                }
            }
            Ok(settled)
        }
    }
}

fn insert(conn: &mut DbConnection, permission: &Permission) -> Result<(), DieselError> {
    use partner_permissions::dsl as p;
    let codes: Vec<&str> = permission.scopes.iter().map(|s| s.code()).collect();
    diesel::insert_into(p::partner_permissions)
        .values((
            p::id.eq(permission.id.to_string()),
            p::organization_id.eq(permission.organization_id.to_string()),
            p::partner_id.eq(permission.partner_id.to_string()),
            p::status.eq(permission.status.code()),
            p::scopes.eq(serde_json::to_string(&codes).unwrap_or_else(|_| "[]".into())),
            p::expires_at.eq(permission.expires_at.map(to_db)),
            p::requested_at.eq(to_db(permission.requested_at)),
            p::updated_at.eq(to_db(permission.updated_at)),
            p::version.eq(permission.version),
        ))
        .execute(conn)
        .map(|_| ())
}

impl Tx<'_> {
    /// Records a partner's new request, refusing it while the partner holds a pending or
    /// approved permission on the organization (lapsed ones are recorded as expired first).
    pub fn request_permission(
        &mut self,
        permission: &Permission,
        event: &PermissionEvent,
        now: DateTime<Utc>,
    ) -> Result<(), WriteError<PermissionError>> {
        use partner_permissions::dsl as p;
        let live: Vec<PermissionRow> = p::partner_permissions
            .filter(p::partner_id.eq(permission.partner_id.to_string()))
            .filter(p::organization_id.eq(permission.organization_id.to_string()))
            .filter(p::status.eq_any(["pending", "approved"]))
            .load(self.conn()?)
            .map_err(storage)?;
        for row in live {
            let settled = settle(self.conn()?, row.into_domain()?, now)?;
            if settled.status.is_live() {
                return Err(WriteError::Refused(PermissionError::AlreadyHeld {
                    existing: Some((settled.id, settled.status)),
                }));
            }
        }
        match insert(self.conn()?, permission) {
            Ok(()) => {}
            // A concurrent request for the same pair committed first.
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(WriteError::Refused(PermissionError::AlreadyHeld {
                    existing: None,
                }))
            }
            Err(e) => return Err(storage(e).into()),
        }
        append_event(self.conn()?, event)?;
        Ok(())
    }

    pub fn permission(&mut self, id: Uuid) -> Result<Option<Permission>, StorageError> {
        load(self.conn()?, id)
    }

    /// Records a decided move if the permission is still at the version it was decided on.
    /// `false`: it moved in between (decide again on a fresh read).
    pub fn move_permission(
        &mut self,
        transition: &Transition,
        decided_on: i64,
    ) -> Result<bool, StorageError> {
        store_move(
            self.conn()?,
            &transition.permission,
            decided_on,
            &[&transition.event],
        )
    }
}

/// Effective-status filter: what time has expired reads as expired.
macro_rules! status_filter {
    ($query:expr, $status:expr, $now:expr) => {{
        use partner_permissions::dsl as p;
        let now = to_db($now);
        let cutoff = to_db($now - PENDING_LIFETIME);
        let lapsed_pending = p::status.eq("pending").and(p::requested_at.le(cutoff));
        let lapsed_approved = p::status
            .eq("approved")
            .and(p::expires_at.is_not_null())
            .and(p::expires_at.le(now));
        match $status {
            None => $query,
            Some(PermissionStatus::Pending) => $query
                .filter(p::status.eq("pending"))
                .filter(p::requested_at.gt(cutoff)),
            Some(PermissionStatus::Approved) => $query
                .filter(p::status.eq("approved"))
                .filter(p::expires_at.is_null().or(p::expires_at.gt(now))),
            Some(PermissionStatus::Expired) => $query.filter(
                p::status
                    .eq("expired")
                    .or(lapsed_pending)
                    .or(lapsed_approved),
            ),
            Some(other) => $query.filter(p::status.eq(other.code())),
        }
    }};
}

/// Whose permissions a list shows.
#[derive(Debug, Clone, Copy)]
enum Holder {
    Organization(OrganizationId),
    Partner(PartnerId),
}

/// One page of permissions, oldest request first, filtered on the status at `now`.
fn list(
    conn: &mut DbConnection,
    holder: Holder,
    status: Option<PermissionStatus>,
    now: DateTime<Utc>,
    page: &PageRequest,
) -> Result<Page<Permission>, StorageError> {
    use partner_permissions::dsl as p;
    let query = match holder {
        Holder::Organization(o) => p::partner_permissions
            .filter(p::organization_id.eq(o.to_string()))
            .into_boxed(),
        Holder::Partner(partner) => p::partner_permissions
            .filter(p::partner_id.eq(partner.to_string()))
            .into_boxed(),
    };
    let query = status_filter!(query, status, now);
    let query = super::after_filter!(query, p::requested_at, p::id, page.after.as_ref());
    let rows = query
        .order((p::requested_at.asc(), p::id.asc()))
        .limit(page.fetch())
        .load(conn)
        .map_err(storage)?;
    permission_page(rows, page)
}

fn permission_page(
    rows: Vec<PermissionRow>,
    page: &PageRequest,
) -> Result<Page<Permission>, StorageError> {
    super::keyed_page(rows, page, PermissionRow::into_domain, |p| {
        (p.requested_at, p.id)
    })
}

impl PermissionRepository for Database {
    fn insert_permission(
        &self,
        permission: &Permission,
        history: &[PermissionEvent],
    ) -> Result<(), StorageError> {
        self.write_transaction(|conn| {
            insert(conn, permission).map_err(storage)?;
            for event in history {
                append_event(conn, event)?;
            }
            Ok(())
        })
    }

    fn active_permission(
        &self,
        partner: PartnerId,
        organization: OrganizationId,
        now: DateTime<Utc>,
    ) -> Result<Option<ActivePermission>, StorageError> {
        use partner_permissions::dsl as p;
        let mut conn = self.conn()?;
        // An approved permission is only ever moved away from `approved`, so while it is
        // approved its `updated_at` is when it was approved.
        let found: Option<(String, Option<NaiveDateTime>, NaiveDateTime)> = p::partner_permissions
            .filter(p::partner_id.eq(partner.to_string()))
            .filter(p::organization_id.eq(organization.to_string()))
            .filter(p::status.eq(PermissionStatus::Approved.code()))
            .filter(p::expires_at.is_null().or(p::expires_at.gt(to_db(now))))
            .select((p::scopes, p::expires_at, p::updated_at))
            .first(&mut conn)
            .optional()
            .map_err(storage)?;
        found
            .map(|(raw, ends_at, approved_at)| {
                Ok(ActivePermission {
                    scopes: scopes(&raw)?,
                    ends_at: ends_at.map(from_db),
                    approved_at: from_db(approved_at),
                })
            })
            .transpose()
    }

    fn permission(&self, id: Uuid) -> Result<Option<Permission>, StorageError> {
        load(&mut *self.conn()?, id)
    }

    fn permission_history(&self, id: Uuid) -> Result<Vec<PermissionEvent>, StorageError> {
        use permission_events::dsl as e;
        let rows: Vec<EventRow> = e::permission_events
            .filter(e::permission_id.eq(id.to_string()))
            .order(e::seq.asc())
            .load(&mut self.conn()?)
            .map_err(storage)?;
        rows.into_iter().map(EventRow::into_domain).collect()
    }

    fn organization_permissions(
        &self,
        organization: OrganizationId,
        status: Option<PermissionStatus>,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Permission>, StorageError> {
        list(
            &mut *self.conn()?,
            Holder::Organization(organization),
            status,
            now,
            page,
        )
    }

    fn partner_permissions(
        &self,
        partner: PartnerId,
        status: Option<PermissionStatus>,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Permission>, StorageError> {
        list(
            &mut *self.conn()?,
            Holder::Partner(partner),
            status,
            now,
            page,
        )
    }

    fn permitted_organizations(
        &self,
        partner: PartnerId,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<(Organization, Permission)>, StorageError> {
        let mut conn = self.conn()?;
        let approved = Some(PermissionStatus::Approved);
        let permissions = list(&mut conn, Holder::Partner(partner), approved, now, page)?;
        let ids: Vec<OrganizationId> = permissions
            .items
            .iter()
            .map(|p| p.organization_id)
            .collect();
        let organizations = super::directory::load_organizations(&mut conn, &ids)?;
        let items = permissions
            .items
            .into_iter()
            .map(|permission| {
                let organization = organizations
                    .iter()
                    .find(|o| o.id == permission.organization_id)
                    .cloned()
                    .ok_or_else(|| {
                        StorageError(format!("permission {} has no organization", permission.id))
                    })?;
                Ok((organization, permission))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Page {
            items,
            next: permissions.next,
        })
    }

    fn record_permission_expiries(&self, now: DateTime<Utc>) -> Result<usize, StorageError> {
        use partner_permissions::dsl as p;
        let lapsed: Vec<PermissionRow> = {
            let query = p::partner_permissions.into_boxed();
            let query = status_filter!(query, Some(PermissionStatus::Expired), now);
            query
                .filter(p::status.ne("expired"))
                .load(&mut self.conn()?)
                .map_err(storage)?
        };
        let mut recorded = 0;
        for row in lapsed {
            let permission = row.into_domain()?;
            self.write_transaction(|conn| {
                // Read again inside the transaction: a decision may have come first.
                if let Some(current) = load(conn, permission.id)? {
                    if current.pending_expiry(now).is_some() {
                        settle(conn, current, now)?;
                        recorded += 1;
                    }
                }
                Ok::<_, StorageError>(())
            })?;
        }
        Ok(recorded)
    }
}
