//! Events and webhooks. An event is an audit line of an organization with the
//! organization's next position. On SQLite (one writer) the writing transaction takes it and
//! writes one delivery for each subscription of a partner that holds an approved permission
//! on the organization (`positions`). On PostgreSQL lines are written
//! without a position and numbered just after their commit, with their deliveries, by
//! [`sequence_pg`]: one server at a time, each run committing whole, so positions become
//! visible in order and an organization's writes share no lock. Whether the permission still
//! holds is checked again when a delivery is made.

use super::records::AuditRow;
use crate::connection::storage;
use crate::convert::{corrupt, from_db, to_db, uuid};
use crate::schema::{audit_events, event_positions, webhook_deliveries, webhooks};
use crate::Database;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::error::StorageError;
use domain::events::{
    Delivery, DeliveryStatus, Event, EventFilter, EventType, Webhook, WebhookUrl,
};
use domain::ids::{OrganizationId, PartnerId};
use domain::ports::EventRepository;
use uuid::Uuid;

/// The advisory lock one sequencer run holds (of any server on the database).
macro_rules! sequencer_lock {
    () => {
        7347291
    };
}
const SEQUENCER_LOCK: i64 = sequencer_lock!();

/// The sequencer's statement, prepared once per connection (planning it took about as long
/// as numbering fifty lines). It reads the lines written by a transaction no older than the
/// mark of the previous run, and leaves as the next run's mark the oldest transaction still
/// running as it reads (its snapshot's xmin): every older one has ended, and its lines are
/// numbered now (unless the run stops at its limit, which leaves the mark where it was). So
/// a run walks the lines of the last few runs, never the whole history (migration
/// `2026-12-06-000010_sequencer_low_water`). `$1` and `$2` pair each audit action with its
/// event type as a webhook's `event_types` holds it (`"benefit.changed"`, quotes included).
macro_rules! sequence_sql {
    () => {
        concat!(
            "WITH lock AS (SELECT pg_try_advisory_xact_lock(",
            sequencer_lock!(),
            ") AS got), \
             todo AS (SELECT a.id, a.organization_id, a.action, a.created_at, \
                 row_number() OVER (PARTITION BY a.organization_id ORDER BY a.created_at, a.id) AS n \
               FROM audit_events a, lock, event_sequencer s WHERE lock.got \
                 AND a.position IS NULL AND a.organization_id IS NOT NULL \
                 AND a.written_by >= s.low_water \
               ORDER BY a.created_at, a.id LIMIT 5000), \
             marked AS (UPDATE event_sequencer SET low_water = pg_snapshot_xmin(pg_current_snapshot()) \
               FROM lock WHERE lock.got AND (SELECT count(*) FROM todo) < 5000 RETURNING 1), \
             counts AS (SELECT organization_id, count(*) AS c FROM todo GROUP BY organization_id), \
             bumped AS (INSERT INTO event_positions (organization_id, last_position) \
               SELECT organization_id, c FROM counts \
               ON CONFLICT (organization_id) \
               DO UPDATE SET last_position = event_positions.last_position + EXCLUDED.last_position \
               RETURNING organization_id, last_position), \
             numbered AS (UPDATE audit_events a SET position = b.last_position - c.c + t.n \
               FROM todo t JOIN counts c USING (organization_id) JOIN bumped b USING (organization_id) \
               WHERE a.id = t.id RETURNING a.organization_id, a.position, a.action, a.created_at), \
             types AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(action, event_type)), \
             delivered AS (INSERT INTO webhook_deliveries (id, webhook_id, organization_id, position, \
                 status, attempts, next_attempt_at, created_at) \
               SELECT w.id || ':' || n.organization_id || ':' || n.position, w.id, n.organization_id, \
                 n.position, 'pending', 0, n.created_at, n.created_at \
               FROM numbered n \
               LEFT JOIN types k ON k.action = n.action \
               JOIN partner_permissions pp ON pp.organization_id = n.organization_id \
                 AND pp.status = 'approved' \
                 AND (pp.expires_at IS NULL OR pp.expires_at > n.created_at) \
               JOIN webhooks w ON w.partner_id = pp.partner_id AND w.removed_at IS NULL \
                 AND (w.event_types = '[]' OR strpos(w.event_types, k.event_type) > 0) \
               RETURNING 1) \
             SELECT (SELECT count(*) FROM numbered) AS numbered, \
                    (SELECT count(*) FROM delivered) AS delivered"
        )
    };
}

/// PostgreSQL: numbers the committed audit lines that have no position yet, in one
/// transaction that only one server runs at a time (an advisory lock), and writes their
/// deliveries. Each run's positions follow the previous run's, and a run commits whole, so
/// a reader never sees a position before a smaller one of the same organization. Returns how
/// many lines it numbered (0: nothing to do, or another server is numbering) and how many
/// deliveries it wrote.
pub(super) fn sequence_pg(conn: &mut diesel::PgConnection) -> Result<(i64, i64), StorageError> {
    use crate::fixed::{fixed, Statement};
    use diesel::sql_types::{Array, BigInt, Text};
    #[derive(QueryableByName)]
    struct Sequenced {
        #[diesel(sql_type = BigInt)]
        numbered: i64,
        #[diesel(sql_type = BigInt)]
        delivered: i64,
    }
    struct Sequence;
    impl Statement for Sequence {
        const SQL: &'static str = sequence_sql!();
    }
    // What each action is, as event types (EventType::of): data, so the text stays fixed;
    // made once for the process.
    static TYPES: std::sync::OnceLock<(Vec<&'static str>, Vec<String>)> =
        std::sync::OnceLock::new();
    let (actions, types) = TYPES.get_or_init(|| {
        domain::audit::AuditAction::ALL
            .iter()
            .map(|a| (a.code(), format!("\"{}\"", EventType::of(*a).code())))
            .unzip()
    });
    let done: Sequenced = fixed::<Sequence, _>(|q| {
        q.bind::<Array<Text>, _>(actions)
            .bind::<Array<Text>, _>(types)
    })
    .get_result(conn)
    .map_err(storage)?;
    Ok((done.numbered, done.delivered))
}

fn event_of(row: AuditRow) -> Result<Event, StorageError> {
    let position = row
        .position
        .ok_or_else(|| StorageError("an event without a position".into()))?;
    let audit = row.into_domain()?;
    Event::of(&audit, position)
        .ok_or_else(|| StorageError("an event without an organization".into()))
}

#[derive(Queryable)]
struct WebhookRow {
    id: String,
    partner_id: String,
    url: String,
    event_types: String,
    salt: String,
    secret_check: String,
    created_at: NaiveDateTime,
    #[allow(dead_code)]
    removed_at: Option<NaiveDateTime>,
}

impl WebhookRow {
    fn into_domain(self) -> Result<(Webhook, String, String), StorageError> {
        let codes: Vec<String> = serde_json::from_str(&self.event_types)
            .map_err(|_| corrupt("event types", &self.event_types))?;
        let filter = EventFilter::parse(&codes).map_err(|e| corrupt("event type", &e.0))?;
        Ok((
            Webhook {
                id: uuid(&self.id)?,
                partner_id: PartnerId(uuid(&self.partner_id)?),
                url: WebhookUrl::stored(self.url),
                filter,
                created_at: from_db(self.created_at),
            },
            self.salt,
            self.secret_check,
        ))
    }
}

#[derive(Queryable)]
struct DeliveryRow {
    id: String,
    webhook_id: String,
    #[allow(dead_code)]
    organization_id: String,
    #[allow(dead_code)]
    position: i64,
    status: String,
    attempts: i32,
    last_status: Option<i32>,
    last_error: Option<String>,
    next_attempt_at: NaiveDateTime,
    created_at: NaiveDateTime,
    delivered_at: Option<NaiveDateTime>,
}

fn delivery_of((row, audit): (DeliveryRow, AuditRow)) -> Result<Delivery, StorageError> {
    let status = DeliveryStatus::parse(&row.status)
        .ok_or_else(|| corrupt("delivery status", &row.status))?;
    Ok(Delivery {
        id: row.id,
        webhook_id: uuid(&row.webhook_id)?,
        event: event_of(audit)?,
        status,
        attempts: row.attempts,
        last_status: row.last_status,
        last_error: row.last_error,
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| from_db(row.next_attempt_at)),
        created_at: from_db(row.created_at),
        delivered_at: row.delivered_at.map(from_db),
    })
}

/// The deliveries joined to their events.
macro_rules! deliveries_with_events {
    () => {{
        use audit_events::dsl as a;
        use webhook_deliveries::dsl as d;
        d::webhook_deliveries.inner_join(
            a::audit_events.on(a::organization_id
                .eq(d::organization_id.nullable())
                .and(a::position.eq(d::position.nullable()))),
        )
    }};
}

impl crate::tx::Tx<'_> {
    /// Records a subscription, with what its secret is derived from (`salt`) and a check of
    /// the secret (`secret_check`), in this transaction.
    pub fn insert_webhook(
        &mut self,
        webhook: &Webhook,
        salt: &str,
        secret_check: &str,
    ) -> Result<(), StorageError> {
        use webhooks::dsl as w;
        let codes: Vec<&str> = webhook.filter.types().iter().map(|t| t.code()).collect();
        let types = serde_json::to_string(&codes).map_err(|e| StorageError(e.to_string()))?;
        diesel::insert_into(w::webhooks)
            .values((
                w::id.eq(webhook.id.to_string()),
                w::partner_id.eq(webhook.partner_id.to_string()),
                w::url.eq(webhook.url.as_str()),
                w::event_types.eq(types),
                w::salt.eq(salt),
                w::secret_check.eq(secret_check),
                w::created_at.eq(to_db(webhook.created_at)),
            ))
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(())
    }
}

impl Database {
    /// Numbers the committed audit lines that wait for a position (PostgreSQL; on SQLite
    /// lines are numbered as they are written) and writes their deliveries: how many it
    /// numbered. Several servers may call it at once; one numbers, the others find nothing.
    pub fn sequence_events(&self) -> Result<i64, StorageError> {
        self.sequence(false)
    }

    /// [`Self::sequence_events`], but a run already under way elsewhere is waited for, not
    /// left to finish on its own: once this returns, every line committed before the call
    /// has its position (where a stream that starts "from now on" starts).
    pub fn sequence_events_now(&self) -> Result<i64, StorageError> {
        self.sequence(true)
    }

    fn sequence(&self, wait: bool) -> Result<i64, StorageError> {
        enum Outcome {
            Nothing,
            Failed(StorageError),
        }
        impl From<StorageError> for Outcome {
            fn from(e: StorageError) -> Self {
                Outcome::Failed(e)
            }
        }
        if self.backend() != crate::Backend::Postgres {
            return Ok(0);
        }
        let numbered = self.write_transaction(|conn| {
            // Positions change no kept answer; the commit still wakes the streams.
            crate::write_counter::unseen();
            let crate::DbConnection::Postgresql(pg) = conn else {
                return Err(Outcome::Nothing);
            };
            if wait {
                // A statement of its own: the numbering's statement then reads what the run
                // it waited for committed (its snapshot is taken after the lock is held).
                diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SEQUENCER_LOCK})"))
                    .execute(pg)
                    .map_err(storage)?;
            }
            let (numbered, delivered) = sequence_pg(pg)?;
            if numbered == 0 {
                // Rolled back: nothing to announce, nobody to wake.
                return Err(Outcome::Nothing);
            }
            if delivered > 0 {
                crate::write_counter::deliveries_written();
            }
            Ok(numbered)
        });
        match numbered {
            Ok(n) => Ok(n),
            Err(Outcome::Nothing) => Ok(0),
            Err(Outcome::Failed(e)) => Err(e),
        }
    }
}

impl EventRepository for Database {
    fn events_after(
        &self,
        organization: OrganizationId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StorageError> {
        use audit_events::dsl as a;
        let rows: Vec<AuditRow> = a::audit_events
            .filter(a::organization_id.eq(organization.to_string()))
            .filter(a::position.gt(after))
            .order(a::position.asc())
            .limit(limit)
            .load(&mut self.conn()?)
            .map_err(storage)?;
        rows.into_iter().map(event_of).collect()
    }

    fn last_position(&self, organization: OrganizationId) -> Result<i64, StorageError> {
        use event_positions::dsl as p;
        let found: Option<i64> = p::event_positions
            .filter(p::organization_id.eq(organization.to_string()))
            .select(p::last_position)
            .first(&mut self.conn()?)
            .optional()
            .map_err(storage)?;
        Ok(found.unwrap_or(0))
    }

    fn webhooks(&self, partner: PartnerId) -> Result<Vec<Webhook>, StorageError> {
        use webhooks::dsl as w;
        let rows: Vec<WebhookRow> = w::webhooks
            .filter(w::partner_id.eq(partner.to_string()))
            .filter(w::removed_at.is_null())
            .order((w::created_at.asc(), w::id.asc()))
            .load(&mut self.conn()?)
            .map_err(storage)?;
        rows.into_iter()
            .map(|r| r.into_domain().map(|(w, _, _)| w))
            .collect()
    }

    fn webhook(&self, id: Uuid) -> Result<Option<(Webhook, String, String)>, StorageError> {
        use webhooks::dsl as w;
        let row: Option<WebhookRow> = w::webhooks
            .filter(w::id.eq(id.to_string()))
            .filter(w::removed_at.is_null())
            .first(&mut self.conn()?)
            .optional()
            .map_err(storage)?;
        row.map(WebhookRow::into_domain).transpose()
    }

    fn remove_webhook(
        &self,
        partner: PartnerId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        use webhook_deliveries::dsl as d;
        use webhooks::dsl as w;
        self.write_transaction(|conn| {
            crate::write_counter::unseen();
            let removed = diesel::update(
                w::webhooks
                    .filter(w::id.eq(id.to_string()))
                    .filter(w::partner_id.eq(partner.to_string()))
                    .filter(w::removed_at.is_null()),
            )
            .set(w::removed_at.eq(Some(to_db(at))))
            .execute(conn)
            .map_err(storage)?;
            if removed == 1 {
                diesel::update(
                    d::webhook_deliveries
                        .filter(d::webhook_id.eq(id.to_string()))
                        .filter(d::status.eq(DeliveryStatus::Pending.code())),
                )
                .set((
                    d::status.eq(DeliveryStatus::Skipped.code()),
                    d::last_error.eq(Some("the subscription was removed")),
                ))
                .execute(conn)
                .map_err(storage)?;
            }
            Ok(removed == 1)
        })
    }

    fn deliveries(&self, webhook: Uuid, limit: i64) -> Result<Vec<Delivery>, StorageError> {
        use webhook_deliveries::dsl as d;
        let rows: Vec<(DeliveryRow, AuditRow)> = deliveries_with_events!()
            .filter(d::webhook_id.eq(webhook.to_string()))
            .order((d::created_at.desc(), d::position.desc()))
            .limit(limit)
            .load(&mut self.conn()?)
            .map_err(storage)?;
        rows.into_iter().map(delivery_of).collect()
    }

    fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StorageError> {
        use webhook_deliveries::dsl as d;
        let rows: Vec<(DeliveryRow, AuditRow)> = deliveries_with_events!()
            .filter(d::status.eq(DeliveryStatus::Pending.code()))
            .filter(d::next_attempt_at.le(to_db(now)))
            .order((d::next_attempt_at.asc(), d::position.asc()))
            .limit(limit)
            .load(&mut self.conn()?)
            .map_err(storage)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Each is taken only if still due: a concurrent server never takes it too.
        let mut claimed = Vec::with_capacity(rows.len());
        self.write_transaction(|conn| {
            crate::write_counter::unseen();
            for row in rows {
                let taken = diesel::update(
                    d::webhook_deliveries
                        .filter(d::id.eq(&row.0.id))
                        .filter(d::status.eq(DeliveryStatus::Pending.code()))
                        .filter(d::next_attempt_at.le(to_db(now))),
                )
                .set(d::next_attempt_at.eq(to_db(lease_until)))
                .execute(conn)
                .map_err(storage)?;
                if taken == 1 {
                    claimed.push(delivery_of(row)?);
                }
            }
            Ok::<_, StorageError>(())
        })?;
        Ok(claimed)
    }

    fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<usize, StorageError> {
        use webhook_deliveries::dsl as d;
        self.write_transaction(|conn| {
            crate::write_counter::unseen();
            diesel::delete(
                d::webhook_deliveries
                    .filter(d::status.ne(DeliveryStatus::Pending.code()))
                    .filter(d::created_at.lt(to_db(before))),
            )
            .execute(conn)
            .map_err(storage)
        })
    }

    fn record_attempt(&self, delivery: &Delivery) -> Result<(), StorageError> {
        use webhook_deliveries::dsl as d;
        let next = delivery.next_attempt_at.unwrap_or(delivery.created_at);
        self.write_transaction(|conn| {
            crate::write_counter::unseen();
            diesel::update(d::webhook_deliveries.filter(d::id.eq(&delivery.id)))
                .set((
                    d::status.eq(delivery.status.code()),
                    d::attempts.eq(delivery.attempts),
                    d::last_status.eq(delivery.last_status),
                    d::last_error.eq(delivery
                        .last_error
                        .as_ref()
                        .map(|e| e.chars().take(500).collect::<String>())),
                    d::next_attempt_at.eq(to_db(next)),
                    d::delivered_at.eq(delivery.delivered_at.map(to_db)),
                ))
                .execute(conn)
                .map_err(storage)?;
            Ok(())
        })
    }
}
