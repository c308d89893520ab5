//! The audit log and the outbox: written inside the transaction of the change they record,
//! read back newest first.

use super::before_filter;
use crate::connect::execute_native;
use crate::connection::storage;
use crate::convert::{corrupt, from_db, to_db, uuid};
use crate::schema::{audit_events, notifications};
use crate::tx::Tx;
use crate::{Database, DbConnection};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::audit::{AuditAction, AuditEvent, TargetKind};
use domain::auth::{Actor, Role};
use domain::error::StorageError;
use domain::ids::{OrganizationId, PartnerId};
use domain::notification::{DeliveryStatus, Notification};
use domain::page::{Page, PageRequest};
use domain::ports::{OutboxRepository, RecordsRepository};
use domain::values::EmailAddress;
use domain::{Language, Localized};
use uuid::Uuid;

#[derive(Queryable)]
pub(super) struct AuditRow {
    id: String,
    organization_id: Option<String>,
    actor_subject: String,
    actor_role: String,
    partner_id: Option<String>,
    action: String,
    target_kind: String,
    target_id: String,
    detail: Option<String>,
    created_at: NaiveDateTime,
    /// Its place among the organization's events (`None` for lines written before events).
    pub(super) position: Option<i64>,
}

impl AuditRow {
    pub(super) fn into_domain(self) -> Result<AuditEvent, StorageError> {
        Ok(AuditEvent {
            account_id: None,
            id: uuid(&self.id)?,
            organization_id: self
                .organization_id
                .as_deref()
                .map(uuid)
                .transpose()?
                .map(OrganizationId),
            actor: Actor {
                subject: self.actor_subject,
                role: Role::parse(&self.actor_role)
                    .ok_or_else(|| corrupt("role", &self.actor_role))?,
                partner: self
                    .partner_id
                    .as_deref()
                    .map(uuid)
                    .transpose()?
                    .map(PartnerId),
            },
            action: AuditAction::parse(&self.action)
                .ok_or_else(|| corrupt("audit action", &self.action))?,
            target_kind: TargetKind::parse(&self.target_kind)
                .ok_or_else(|| corrupt("audit target", &self.target_kind))?,
            target_id: uuid(&self.target_id)?,
            // Stored as {"en": …, "fr": …}; a line written before details were translated
            // holds one plain text, shown as it is in both languages.
            detail: self.detail.map(|d| {
                serde_json::from_str::<Localized>(&d).unwrap_or_else(|_| Localized::same(d))
            }),
            at: from_db(self.created_at),
        })
    }
}

#[derive(Queryable)]
struct NotificationRow {
    id: String,
    organization_id: String,
    recipient: Option<String>,
    template: String,
    language: String,
    subject: String,
    body: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    next_attempt_at: NaiveDateTime,
    created_at: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
}

impl NotificationRow {
    fn into_domain(self) -> Result<Notification, StorageError> {
        Ok(Notification {
            id: uuid(&self.id)?,
            organization_id: OrganizationId(uuid(&self.organization_id)?),
            recipient: match &self.recipient {
                None => None,
                Some(r) => Some(EmailAddress::parse(r).map_err(|_| corrupt("recipient", r))?),
            },
            template: self.template,
            language: Language::ALL
                .into_iter()
                .find(|l| l.code() == self.language)
                .ok_or_else(|| corrupt("language", &self.language))?,
            subject: self.subject,
            body: self.body,
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| corrupt("delivery status", &self.status))?,
            attempts: self.attempts,
            last_error: self.last_error,
            next_attempt_at: from_db(self.next_attempt_at),
            created_at: from_db(self.created_at),
            sent_at: self.sent_at.map(from_db),
        })
    }
}

impl Tx<'_> {
    /// Appends one line to the audit log, in this transaction (on PostgreSQL it is written
    /// with the transaction's ledger change, or just before its COMMIT: [`Tx::finish`]).
    pub fn audit(&mut self, event: &AuditEvent) -> Result<(), StorageError> {
        if self.is_postgres() {
            touch_scope(event);
            self.pending_audit.push(event.clone());
            Ok(())
        } else {
            insert_audit(self.conn()?, event)
        }
    }

    /// Puts a notification in the outbox, in this transaction.
    pub fn notify(&mut self, n: &Notification) -> Result<(), StorageError> {
        insert_notification(self.conn()?, n)
    }
}

/// What the change makes stale among kept answers: its account's, or its organization's; a
/// line of no organization (a catalog type, a partner) names nothing, so everything.
fn touch_scope(event: &AuditEvent) {
    if let Some(org) = event.organization_id {
        crate::write_counter::touch(match event.account_id {
            Some(account) => crate::write_counter::Scope::Account(account.as_uuid()),
            None => crate::write_counter::Scope::Organization(org.as_uuid()),
        });
    }
}

/// The stored text of a line's detail (JSON of both languages).
pub(crate) fn audit_detail(event: &AuditEvent) -> Result<Option<String>, StorageError> {
    event
        .detail
        .as_ref()
        .map(|d| serde_json::to_string(d).map_err(|e| StorageError(e.to_string())))
        .transpose()
}

/// Appends one line to the audit log, in the caller's transaction.
pub(crate) fn insert_audit(
    conn: &mut DbConnection,
    event: &AuditEvent,
) -> Result<(), StorageError> {
    use audit_events::dsl as a;
    touch_scope(event);
    let detail = audit_detail(event)?;
    // SQLite (one writer) numbers the line at once; on PostgreSQL the sequencer numbers
    // committed lines in order ([`super::events`]), so no lock is shared by an
    // organization's writes.
    let position = match (event.organization_id, &mut *conn) {
        (Some(org), DbConnection::Sqlite(lite)) => {
            Some(super::positions::next_position(lite, org)?)
        }
        _ => None,
    };
    execute_native(
        conn,
        diesel::insert_into(a::audit_events).values((
            a::id.eq(event.id.to_string()),
            a::organization_id.eq(event.organization_id.map(|o| o.to_string())),
            a::actor_subject.eq(&event.actor.subject),
            a::actor_role.eq(event.actor.role.code()),
            a::partner_id.eq(event.actor.partner.map(|p| p.to_string())),
            a::action.eq(event.action.code()),
            a::target_kind.eq(event.target_kind.code()),
            a::target_id.eq(event.target_id.to_string()),
            a::detail.eq(detail),
            a::created_at.eq(to_db(event.at)),
            a::position.eq(position),
        )),
    )
    .map_err(storage)?;
    if let (Some(org), Some(position), DbConnection::Sqlite(lite)) =
        (event.organization_id, position, &mut *conn)
    {
        super::positions::fan_out(lite, org, position, event)?;
    }
    Ok(())
}

/// Puts one notification in the outbox, in the caller's transaction.
pub(crate) fn insert_notification(
    conn: &mut DbConnection,
    n: &Notification,
) -> Result<(), StorageError> {
    {
        use notifications::dsl as o;
        diesel::insert_into(o::notifications)
            .values((
                o::id.eq(n.id.to_string()),
                o::organization_id.eq(n.organization_id.to_string()),
                o::recipient.eq(n.recipient.as_ref().map(ToString::to_string)),
                o::template.eq(&n.template),
                o::language.eq(n.language.code()),
                o::subject.eq(&n.subject),
                o::body.eq(&n.body),
                o::status.eq(n.status.code()),
                o::attempts.eq(n.attempts),
                o::last_error.eq(&n.last_error),
                o::next_attempt_at.eq(to_db(n.next_attempt_at)),
                o::created_at.eq(to_db(n.created_at)),
                o::sent_at.eq(n.sent_at.map(to_db)),
            ))
            .execute(conn)
            .map_err(storage)?;
        Ok(())
    }
}

impl RecordsRepository for Database {
    fn audit_events(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StorageError> {
        use audit_events::dsl as a;
        let query = a::audit_events
            .filter(a::organization_id.eq(organization.to_string()))
            .into_boxed();
        let query = before_filter!(query, a::created_at, a::id, page.after.as_ref());
        let rows: Vec<AuditRow> = query
            .order((a::created_at.desc(), a::id.desc()))
            .limit(page.fetch())
            .load(&mut self.conn()?)
            .map_err(storage)?;
        super::keyed_page(rows, page, AuditRow::into_domain, |e| (e.at, e.id))
    }

    fn notifications(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<Notification>, StorageError> {
        use notifications::dsl as o;
        let query = o::notifications
            .filter(o::organization_id.eq(organization.to_string()))
            .into_boxed();
        let query = before_filter!(query, o::created_at, o::id, page.after.as_ref());
        let rows: Vec<NotificationRow> = query
            .order((o::created_at.desc(), o::id.desc()))
            .limit(page.fetch())
            .load(&mut self.conn()?)
            .map_err(storage)?;
        super::keyed_page(rows, page, NotificationRow::into_domain, |n| {
            (n.created_at, n.id)
        })
    }
}

impl OutboxRepository for Database {
    fn claim_due_notifications(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Notification>, StorageError> {
        use notifications::dsl as o;
        let rows: Vec<NotificationRow> = o::notifications
            .filter(o::status.eq(DeliveryStatus::Pending.code()))
            .filter(o::next_attempt_at.le(to_db(now)))
            .order(o::next_attempt_at.asc())
            .limit(limit)
            .load(&mut self.conn()?)
            .map_err(storage)?;
        // One transaction for the batch; each row is claimed only if still due, so a
        // concurrent worker (another server) never gets it too.
        let mut claimed = Vec::with_capacity(rows.len());
        self.write_transaction(|conn| {
            crate::write_counter::unseen();
            for row in rows {
                let taken = diesel::update(
                    o::notifications
                        .filter(o::id.eq(&row.id))
                        .filter(o::status.eq(DeliveryStatus::Pending.code()))
                        .filter(o::next_attempt_at.le(to_db(now))),
                )
                .set(o::next_attempt_at.eq(to_db(lease_until)))
                .execute(conn)
                .map_err(storage)?;
                if taken == 1 {
                    claimed.push(row.into_domain()?);
                }
            }
            Ok::<_, StorageError>(())
        })?;
        Ok(claimed)
    }

    fn mark_sent(&self, id: Uuid, attempts: i32, at: DateTime<Utc>) -> Result<(), StorageError> {
        use notifications::dsl as o;
        self.write_transaction(|conn| {
            crate::write_counter::unseen();
            diesel::update(o::notifications.filter(o::id.eq(id.to_string())))
                .set((
                    o::status.eq(DeliveryStatus::Sent.code()),
                    o::attempts.eq(attempts),
                    o::sent_at.eq(Some(to_db(at))),
                    o::last_error.eq(None::<String>),
                ))
                .execute(conn)
                .map_err(storage)?;
            Ok(())
        })
    }

    fn mark_failed_attempt(
        &self,
        id: Uuid,
        attempts: i32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StorageError> {
        use notifications::dsl as o;
        let status = if retry_at.is_some() {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Failed
        };
        self.write_transaction(|conn| {
            crate::write_counter::unseen();
            let target = o::notifications.filter(o::id.eq(id.to_string()));
            diesel::update(target)
                .set((
                    o::status.eq(status.code()),
                    o::attempts.eq(attempts),
                    o::last_error.eq(Some(error.chars().take(500).collect::<String>())),
                ))
                .execute(conn)
                .map_err(storage)?;
            if let Some(at) = retry_at {
                diesel::update(o::notifications.filter(o::id.eq(id.to_string())))
                    .set(o::next_attempt_at.eq(to_db(at)))
                    .execute(conn)
                    .map_err(storage)?;
            }
            Ok(())
        })
    }
}
