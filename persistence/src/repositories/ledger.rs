//! The ledger: exact changes of a benefit's figures, and reading the history back.

use super::benefits::{append_entry, NewEntry};
use crate::connect::storage;
use crate::convert::{corrupt, from_db, to_db, uuid};
use crate::schema::{benefit_transactions, benefits};
use crate::tx::{Flush, Tx};
use crate::{Database, DbConnection};
use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use domain::audit::AuditEvent;
use domain::auth::Role;
use domain::error::StorageError;
use domain::error::WriteError;
use domain::ids::{BenefitId, PartnerId, TransactionId};
use domain::ledger::{EntryKind, Figure, Figures, LedgerError};
use domain::metering::{Change, LedgerEntry, LedgerFilter, LedgerStore};
use domain::page::{After, Page, PageRequest};
use domain::ports::{LedgerHistory, LedgerSnapshot};
use uuid::Uuid;

#[derive(Queryable)]
struct EntryRow {
    id: String,
    benefit_id: String,
    seq: i64,
    kind: String,
    quantity_delta: i64,
    used_delta: i64,
    quantity_after: Option<i64>,
    used_after: Option<i64>,
    actor_subject: String,
    actor_role: String,
    partner_id: Option<String>,
    reference: Option<String>,
    note: Option<String>,
    created_at: NaiveDateTime,
}

impl EntryRow {
    fn into_domain(self) -> Result<LedgerEntry, StorageError> {
        let kind =
            EntryKind::parse(&self.kind).ok_or_else(|| corrupt("ledger kind", &self.kind))?;
        let amount = match kind.figure() {
            Figure::Quantity => self.quantity_delta,
            Figure::Used => self.used_delta,
        };
        Ok(LedgerEntry {
            id: TransactionId(uuid(&self.id)?),
            benefit_id: BenefitId(uuid(&self.benefit_id)?),
            seq: self.seq,
            kind,
            amount,
            after: match (self.quantity_after, self.used_after) {
                (Some(quantity), Some(used)) => Some(Figures { quantity, used }),
                _ => None,
            },
            actor_subject: self.actor_subject,
            actor_role: Role::parse(&self.actor_role)
                .ok_or_else(|| corrupt("role", &self.actor_role))?,
            partner: self
                .partner_id
                .as_deref()
                .map(uuid)
                .transpose()?
                .map(PartnerId),
            reference: self.reference,
            note: self.note,
            created_at: from_db(self.created_at),
        })
    }
}

fn figures(conn: &mut DbConnection, id: &str) -> Result<Option<Figures>, StorageError> {
    let found: Option<(Option<i64>, Option<i64>)> = benefits::table
        .find(id)
        .select((benefits::quantity, benefits::used))
        .first(conn)
        .optional()
        .map_err(storage)?;
    match found {
        None => Err(StorageError(format!("no benefit {id}"))),
        Some((Some(quantity), Some(used))) => Ok(Some(Figures { quantity, used })),
        Some(_) => Ok(None),
    }
}

/// The ledger's invariant (`0 <= used <= quantity`, `domain::ledger`) as SQL, written once:
/// the update of one figure by an amount, made only where the invariant holds after it,
/// returning the new figures and version. `$amount` and `$id` are the backend's placeholders
/// (`?1`/`?2` on SQLite, `$2`/`$1` on PostgreSQL); both backends' statements are built from it
/// at compile time, and `persistence/tests/conditional_updates.rs` holds each to the domain on
/// its own database.
macro_rules! guarded_update {
    (use, $amount:literal, $id:literal) => {
        concat!(
            "UPDATE benefits SET used = used + ",
            $amount,
            ", version = version + 1 ",
            "WHERE id = ",
            $id,
            " AND quantity IS NOT NULL AND used + ",
            $amount,
            " <= quantity ",
            "RETURNING quantity, used, version"
        )
    };
    (give_back, $amount:literal, $id:literal) => {
        concat!(
            "UPDATE benefits SET used = used + ",
            $amount,
            ", version = version + 1 ",
            "WHERE id = ",
            $id,
            " AND quantity IS NOT NULL AND used + ",
            $amount,
            " >= 0 ",
            "RETURNING quantity, used, version"
        )
    };
    (entitle, $amount:literal, $id:literal) => {
        concat!(
            "UPDATE benefits SET quantity = quantity + ",
            $amount,
            ", version = version + 1 ",
            "WHERE id = ",
            $id,
            " AND quantity IS NOT NULL AND quantity + ",
            $amount,
            " >= used ",
            "RETURNING quantity, used, version"
        )
    };
}

/// Applies `amount` to one figure only if the invariant still holds at that instant, and
/// returns the figures after it with the benefit's new version (`None`: nothing changed).
/// Every ledger entry bumps the version once, starting from the grant (version 1, entry 1),
/// so the new version is the entry's position in the ledger. Exact: the check and the write
/// are one statement (and SQLite's write transaction is exclusive besides). SQLite only;
/// PostgreSQL does this and the ledger row in one statement ([`update_and_append_pg`]).
fn conditional_update(
    conn: &mut diesel::SqliteConnection,
    id: &str,
    figure: Figure,
    amount: i64,
) -> Result<Option<(Figures, i64)>, StorageError> {
    use crate::fixed::{fixed, Statement};
    use diesel::sql_types::Text;
    struct Use;
    impl Statement for Use {
        const SQL: &'static str = guarded_update!(use, "?1", "?2");
    }
    struct GiveBack;
    impl Statement for GiveBack {
        const SQL: &'static str = guarded_update!(give_back, "?1", "?2");
    }
    struct Entitle;
    impl Statement for Entitle {
        const SQL: &'static str = guarded_update!(entitle, "?1", "?2");
    }
    #[derive(QueryableByName)]
    struct Changed {
        #[diesel(sql_type = BigInt)]
        quantity: i64,
        #[diesel(sql_type = BigInt)]
        used: i64,
        #[diesel(sql_type = BigInt)]
        version: i64,
    }
    fn run<M: Statement>(
        conn: &mut diesel::SqliteConnection,
        id: &str,
        amount: i64,
    ) -> QueryResult<Changed> {
        fixed::<M, _>(|q| q.bind::<BigInt, _>(amount).bind::<Text, _>(id)).get_result(conn)
    }
    let changed = match figure {
        Figure::Used if amount >= 0 => run::<Use>(conn, id, amount),
        Figure::Used => run::<GiveBack>(conn, id, amount),
        Figure::Quantity => run::<Entitle>(conn, id, amount),
    }
    .optional()
    .map_err(storage)?;
    Ok(changed.map(|c| {
        (
            Figures {
                quantity: c.quantity,
                used: c.used,
            },
            c.version,
        )
    }))
}

#[derive(QueryableByName)]
struct Appended {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    quantity_after: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    used_after: i64,
}

/// PostgreSQL: the conditional update and the ledger row in one statement, so the row lock
/// the update takes is held for one round trip less until the commit; with the audit line of
/// the transaction in it too when one waits ([`Tx::pending_audit`]): a consumption is then
/// one statement between the idempotency key and the answer. `None`: the update was refused
/// (nothing written).
fn update_and_append_pg(
    conn: &mut diesel::PgConnection,
    benefit: BenefitId,
    change: &Change<'_>,
    id: Uuid,
    audit: Option<&AuditEvent>,
) -> Result<Option<Appended>, StorageError> {
    use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
    macro_rules! ledger_row {
        () => {
            "INSERT INTO benefit_transactions (id, benefit_id, seq, kind, quantity_delta, \
             used_delta, quantity_after, used_after, actor_subject, actor_role, partner_id, \
             reference, note, created_at) \
             SELECT $3, $1, version, $4, $5, $6, quantity, used, $7, $8, $9, $10, $11, $12 \
             FROM changed RETURNING seq, quantity_after, used_after"
        };
    }
    macro_rules! with_ledger_row {
        ($update:expr) => {
            concat!("WITH changed AS (", $update, ") ", ledger_row!())
        };
    }
    macro_rules! with_audit_and_ledger_row {
        ($update:expr) => {
            concat!(
                "WITH changed AS (",
                $update,
                "), audited AS (INSERT INTO audit_events (id, organization_id, actor_subject, \
                 actor_role, partner_id, action, target_kind, target_id, detail, created_at) \
                 SELECT $13, $14, $15, $16, $17, $18, $19, $20, $21, $22 FROM changed) ",
                ledger_row!()
            )
        };
    }
    use crate::fixed::{fixed, Statement};
    macro_rules! statements {
        ($($name:ident = $sql:expr;)*) => {
            $(
                struct $name;
                impl Statement for $name {
                    const SQL: &'static str = $sql;
                }
            )*
        };
    }
    statements! {
        Use = with_ledger_row!(guarded_update!(use, "$2", "$1"));
        GiveBack = with_ledger_row!(guarded_update!(give_back, "$2", "$1"));
        Entitle = with_ledger_row!(guarded_update!(entitle, "$2", "$1"));
        AuditedUse = with_audit_and_ledger_row!(guarded_update!(use, "$2", "$1"));
        AuditedGiveBack = with_audit_and_ledger_row!(guarded_update!(give_back, "$2", "$1"));
        AuditedEntitle = with_audit_and_ledger_row!(guarded_update!(entitle, "$2", "$1"));
    }
    let (quantity_delta, used_delta) = match change.kind.figure() {
        Figure::Quantity => (change.amount, 0),
        Figure::Used => (0, change.amount),
    };
    let detail = match audit {
        Some(event) => super::records::audit_detail(event)?,
        None => None,
    };
    // Prepared once per connection and kept (a `sql_query` is parsed and planned each run).
    macro_rules! ledger_binds {
        ($q:expr) => {
            $q.bind::<Text, _>(benefit.to_string())
                .bind::<BigInt, _>(change.amount)
                .bind::<Text, _>(id.to_string())
                .bind::<Text, _>(change.kind.code())
                .bind::<BigInt, _>(quantity_delta)
                .bind::<BigInt, _>(used_delta)
                .bind::<Text, _>(&change.actor.subject)
                .bind::<Text, _>(change.actor.role.code())
                .bind::<Nullable<Text>, _>(change.actor.partner.map(|p| p.to_string()))
                .bind::<Nullable<Text>, _>(change.reference.as_deref())
                .bind::<Nullable<Text>, _>(change.note.as_deref())
                .bind::<Timestamp, _>(to_db(change.at))
        };
    }
    macro_rules! run {
        ($m:ty) => {
            fixed::<$m, _>(|q| ledger_binds!(q)).get_result::<Appended>(conn)
        };
        ($m:ty, $event:expr) => {
            fixed::<$m, _>(|q| {
                ledger_binds!(q)
                    .bind::<Text, _>($event.id.to_string())
                    .bind::<Nullable<Text>, _>($event.organization_id.map(|o| o.to_string()))
                    .bind::<Text, _>(&$event.actor.subject)
                    .bind::<Text, _>($event.actor.role.code())
                    .bind::<Nullable<Text>, _>($event.actor.partner.map(|p| p.to_string()))
                    .bind::<Text, _>($event.action.code())
                    .bind::<Text, _>($event.target_kind.code())
                    .bind::<Text, _>($event.target_id.to_string())
                    .bind::<Nullable<Text>, _>(detail.as_deref())
                    .bind::<Timestamp, _>(to_db($event.at))
            })
            .get_result::<Appended>(conn)
        };
    }
    match (change.kind.figure(), change.amount >= 0, audit) {
        (Figure::Used, true, None) => run!(Use),
        (Figure::Used, false, None) => run!(GiveBack),
        (Figure::Quantity, _, None) => run!(Entitle),
        (Figure::Used, true, Some(event)) => run!(AuditedUse, event),
        (Figure::Used, false, Some(event)) => run!(AuditedGiveBack, event),
        (Figure::Quantity, _, Some(event)) => run!(AuditedEntitle, event),
    }
    .optional()
    .map_err(storage)
}

/// PostgreSQL: the entry `change` made (or, optimistic, will make) at position `seq`, as
/// it reads back (the time at the database's precision).
fn entry_of(
    change: &Change<'_>,
    benefit: BenefitId,
    id: Uuid,
    seq: i64,
    after: Figures,
) -> LedgerEntry {
    LedgerEntry {
        created_at: from_db(to_db(change.at)),
        ..change.entry(TransactionId(id), benefit, seq, after)
    }
}

/// One attempt at a change: the conditional update and its ledger row, or `None` when the
/// update was refused (nothing written). PostgreSQL does both in one statement; SQLite, whose
/// write transaction is exclusive, in two.
fn try_record(
    conn: &mut DbConnection,
    benefit: BenefitId,
    change: &Change<'_>,
    audit: Option<&AuditEvent>,
) -> Result<Option<LedgerEntry>, StorageError> {
    match conn {
        DbConnection::Postgresql(pg) => {
            let entry_id = domain::ids::append_only_id(change.at);
            Ok(
                update_and_append_pg(pg, benefit, change, entry_id, audit)?.map(|done| {
                    entry_of(
                        change,
                        benefit,
                        entry_id,
                        done.seq,
                        Figures {
                            quantity: done.quantity_after,
                            used: done.used_after,
                        },
                    )
                }),
            )
        }
        DbConnection::Sqlite(sqlite) => {
            let id = benefit.to_string();
            let Some((after, seq)) =
                conditional_update(sqlite, &id, change.kind.figure(), change.amount)?
            else {
                return Ok(None);
            };
            append_entry(
                conn,
                NewEntry {
                    benefit,
                    seq,
                    kind: change.kind,
                    amount: change.amount,
                    after: Some(after),
                    actor: change.actor,
                    reference: change.reference.clone(),
                    note: change.note.clone(),
                    at: change.at,
                },
            )
            .map(Some)
        }
    }
}

/// Optimistic (see [`crate::tx`]): a ledger change decided on the figures read before the
/// transaction's `BEGIN`, with its audit line, waiting to be written at the version read.
pub(crate) struct PendingChange {
    benefit: BenefitId,
    /// The version read; the change makes it `version + 1`, the entry's position.
    version: i64,
    entry_id: Uuid,
    kind: EntryKind,
    quantity_delta: i64,
    used_delta: i64,
    actor_subject: String,
    actor_role: Role,
    partner: Option<PartnerId>,
    reference: Option<String>,
    note: Option<String>,
    at: NaiveDateTime,
    audit: AuditEvent,
    /// The figures once written.
    after: Figures,
}

impl PendingChange {
    /// The benefit, the version it moves from, and its figures after.
    pub(crate) fn moves(&self) -> (BenefitId, i64, Figures) {
        (self.benefit, self.version, self.after)
    }
}

impl Tx<'_> {
    /// Optimistic: decides `change` on the figures the transaction read before its `BEGIN`
    /// and holds it back with the audit line waiting for it; the entry is what it will be
    /// when written at that version. `None` when it cannot be decided that way (an ordinary
    /// transaction, another benefit than the one read, an unmetered one, not exactly one
    /// audit line waiting): the change is then made at once.
    fn decide_deferred(
        &mut self,
        benefit: BenefitId,
        change: &Change<'_>,
    ) -> Result<Option<LedgerEntry>, WriteError<LedgerError>> {
        if !self.deferred() || self.pending_change.is_some() || self.pending_audit.len() != 1 {
            return Ok(None);
        }
        let Some((read, figures)) = self
            .read
            .filter(|r| r.id == benefit)
            .and_then(|r| Some((r, r.figures?)))
        else {
            return Ok(None);
        };
        // The rule, on the figures as they were at that version.
        let after = figures
            .apply(change.kind, change.amount)
            .map_err(WriteError::Refused)?;
        let (quantity_delta, used_delta) = match change.kind.figure() {
            Figure::Quantity => (change.amount, 0),
            Figure::Used => (0, change.amount),
        };
        let entry_id = domain::ids::append_only_id(change.at);
        self.read = None;
        self.pending_change = Some(PendingChange {
            benefit,
            version: read.version,
            entry_id,
            kind: change.kind,
            quantity_delta,
            used_delta,
            actor_subject: change.actor.subject.clone(),
            actor_role: change.actor.role,
            partner: change.actor.partner,
            reference: change.reference.clone(),
            note: change.note.clone(),
            at: to_db(change.at),
            audit: self.pending_audit.remove(0),
            after,
        });
        Ok(Some(entry_of(
            change,
            benefit,
            entry_id,
            read.version + 1,
            after,
        )))
    }
}

/// PostgreSQL, optimistic: writes a change decided on the version read, its audit line and
/// the answer kept under the request's key (if any) in one statement. The update applies
/// only at that version; the audit line, the key and the ledger row are written from its
/// row, so nothing is written when it does not apply ([`Flush::Conflict`]), nor when the key
/// was kept meanwhile by another request (the primary key refuses the statement as a whole).
/// Alone, the statement is its own transaction: one round trip for all of a consumption's
/// writes and its commit.
pub(crate) fn write_pending(
    conn: &mut diesel::PgConnection,
    change: &PendingChange,
    key: Option<&super::idempotency::PendingKey>,
) -> Result<(), Flush> {
    use crate::fixed::{fixed, Statement};
    use diesel::result::{DatabaseErrorKind, Error};
    use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
    macro_rules! at_version {
        ($key:expr) => {
            concat!(
                "WITH changed AS (UPDATE benefits SET quantity = quantity + $3, \
                 used = used + $4, version = version + 1 \
                 WHERE id = $1 AND version = $2 AND quantity IS NOT NULL \
                 RETURNING version, quantity, used), \
                 audited AS (INSERT INTO audit_events (id, organization_id, actor_subject, \
                 actor_role, partner_id, action, target_kind, target_id, detail, created_at) \
                 SELECT $13, $14, $15, $16, $17, $18, $19, $20, $21, $22 FROM changed) ",
                $key,
                "INSERT INTO benefit_transactions (id, benefit_id, seq, kind, quantity_delta, \
                 used_delta, quantity_after, used_after, actor_subject, actor_role, partner_id, \
                 reference, note, created_at) \
                 SELECT $5, $1, version, $6, $3, $4, quantity, used, $7, $8, $9, $10, $11, $12 \
                 FROM changed RETURNING seq"
            )
        };
    }
    struct Changed;
    impl Statement for Changed {
        const SQL: &'static str = at_version!("");
    }
    struct ChangedAndKept;
    impl Statement for ChangedAndKept {
        const SQL: &'static str = at_version!(
            ", kept AS (INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, \
             claim_token, response_status, response_headers, response_body, created_at, \
             claimed_at) SELECT $23, $24, $25, $26, $27, $28, $29, $30, $30 FROM changed) "
        );
    }
    #[derive(QueryableByName)]
    struct Written {
        #[diesel(sql_type = BigInt)]
        seq: i64,
    }
    let event = &change.audit;
    let detail = super::records::audit_detail(event)?;
    macro_rules! binds {
        ($q:expr) => {
            $q.bind::<Text, _>(change.benefit.to_string())
                .bind::<BigInt, _>(change.version)
                .bind::<BigInt, _>(change.quantity_delta)
                .bind::<BigInt, _>(change.used_delta)
                .bind::<Text, _>(change.entry_id.to_string())
                .bind::<Text, _>(change.kind.code())
                .bind::<Text, _>(&change.actor_subject)
                .bind::<Text, _>(change.actor_role.code())
                .bind::<Nullable<Text>, _>(change.partner.map(|p| p.to_string()))
                .bind::<Nullable<Text>, _>(change.reference.as_deref())
                .bind::<Nullable<Text>, _>(change.note.as_deref())
                .bind::<Timestamp, _>(change.at)
                .bind::<Text, _>(event.id.to_string())
                .bind::<Nullable<Text>, _>(event.organization_id.map(|o| o.to_string()))
                .bind::<Text, _>(&event.actor.subject)
                .bind::<Text, _>(event.actor.role.code())
                .bind::<Nullable<Text>, _>(event.actor.partner.map(|p| p.to_string()))
                .bind::<Text, _>(event.action.code())
                .bind::<Text, _>(event.target_kind.code())
                .bind::<Text, _>(event.target_id.to_string())
                .bind::<Nullable<Text>, _>(detail.as_deref())
                .bind::<Timestamp, _>(to_db(event.at))
        };
    }
    let written = match key {
        None => fixed::<Changed, _>(|q| binds!(q)).get_result::<Written>(conn),
        Some(k) => fixed::<ChangedAndKept, _>(|q| {
            binds!(q)
                .bind::<Text, _>(&k.scope)
                .bind::<Text, _>(&k.key)
                .bind::<Text, _>(&k.fingerprint)
                .bind::<Text, _>(Uuid::new_v4().to_string())
                .bind::<Integer, _>(k.status)
                .bind::<Text, _>(&k.headers)
                .bind::<Text, _>(&k.body)
                .bind::<Timestamp, _>(k.at)
        })
        .get_result::<Written>(conn),
    };
    match written {
        Ok(w) if w.seq == change.version + 1 => Ok(()),
        Ok(w) => Err(Flush::Failed(StorageError(format!(
            "benefit {} written at position {} instead of {}",
            change.benefit,
            w.seq,
            change.version + 1
        )))),
        Err(Error::NotFound) => Err(Flush::Conflict),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
            if info.constraint_name() == Some("idempotency_keys_pkey") =>
        {
            Err(Flush::Conflict)
        }
        Err(e) => Err(Flush::Failed(storage(e))),
    }
}

impl LedgerStore for Tx<'_> {
    fn record(
        &mut self,
        benefit: BenefitId,
        change: Change<'_>,
    ) -> Result<LedgerEntry, WriteError<LedgerError>> {
        if let Some(entry) = self.decide_deferred(benefit, &change)? {
            return Ok(entry);
        }
        let id = benefit.to_string();
        // A refused update is explained from the figures as they are now. On PostgreSQL
        // another transaction may have committed between the refusal and the read, so the
        // change may fit after all: a few attempts settle it. On SQLite the first decides.
        for _ in 0..3 {
            // On PostgreSQL the transaction's first waiting audit line goes in the same
            // statement; it stays waiting when the change is refused.
            let audit = self.pending_audit.first().cloned();
            if let Some(entry) = try_record(self.conn()?, benefit, &change, audit.as_ref())? {
                if audit.is_some() {
                    self.pending_audit.remove(0);
                }
                return Ok(entry);
            }
            let current = figures(self.conn()?, &id)?
                .ok_or_else(|| StorageError(format!("benefit {id} is not metered")))?;
            current
                .apply(change.kind, change.amount)
                .map_err(WriteError::Refused)?;
        }
        Err(StorageError(format!(
            "benefit {id} changed under three attempts in a row"
        ))
        .into())
    }
}

impl LedgerHistory for Database {
    fn entries(
        &self,
        benefit: BenefitId,
        filter: &LedgerFilter,
        page: &PageRequest,
    ) -> Result<Page<LedgerEntry>, StorageError> {
        use benefit_transactions::dsl as t;
        let mut conn = self.conn()?;
        let mut query = t::benefit_transactions
            .filter(t::benefit_id.eq(benefit.to_string()))
            .into_boxed();
        if !filter.kinds.is_empty() {
            query = query
                .filter(t::kind.eq_any(filter.kinds.iter().map(|k| k.code()).collect::<Vec<_>>()));
        }
        if let Some(from) = filter.from {
            query = query.filter(t::created_at.ge(to_db(from)));
        }
        if let Some(to) = filter.to {
            query = query.filter(t::created_at.lt(to_db(to)));
        }
        if let Some(After::Position(seq)) = page.after {
            query = query.filter(t::seq.lt(seq));
        }
        let rows: Vec<EntryRow> = query
            .order(t::seq.desc())
            .limit(page.fetch())
            .load(&mut conn)
            .map_err(storage)?;
        let entries = rows
            .into_iter()
            .map(EntryRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_fetched(entries, page, |e| {
            After::Position(e.seq)
        }))
    }

    fn entries_after(
        &self,
        benefit: BenefitId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>, StorageError> {
        use benefit_transactions::dsl as t;
        let mut conn = self.conn()?;
        let rows: Vec<EntryRow> = t::benefit_transactions
            .filter(t::benefit_id.eq(benefit.to_string()))
            .filter(t::seq.gt(after_seq))
            .order(t::seq.asc())
            .limit(limit)
            .load(&mut conn)
            .map_err(storage)?;
        rows.into_iter().map(EntryRow::into_domain).collect()
    }

    fn totals(&self, benefit: BenefitId) -> Result<Vec<(EntryKind, i64)>, StorageError> {
        totals(&mut *self.conn()?, benefit)
    }

    fn figures_with_totals(
        &self,
        benefit: BenefitId,
    ) -> Result<Option<LedgerSnapshot>, StorageError> {
        self.read_snapshot(|conn| {
            let found: Option<(Option<i64>, Option<i64>)> = benefits::table
                .find(benefit.to_string())
                .select((benefits::quantity, benefits::used))
                .first(conn)
                .optional()
                .map_err(storage)?;
            let Some((quantity, used)) = found else {
                return Ok(None);
            };
            let figures = quantity
                .zip(used)
                .map(|(quantity, used)| Figures { quantity, used });
            Ok(Some((figures, totals(conn, benefit)?)))
        })
    }
}

fn totals(
    conn: &mut DbConnection,
    benefit: BenefitId,
) -> Result<Vec<(EntryKind, i64)>, StorageError> {
    {
        use benefit_transactions::dsl as t;
        let rows: Vec<(String, i64)> = t::benefit_transactions
            .filter(t::benefit_id.eq(benefit.to_string()))
            .group_by(t::kind)
            .select((
                t::kind,
                sql::<BigInt>("CAST(SUM(quantity_delta + used_delta) AS BIGINT)"),
            ))
            .load(conn)
            .map_err(storage)?;
        let mut totals = rows
            .into_iter()
            .map(|(kind, total)| {
                EntryKind::parse(&kind)
                    .map(|k| (k, total))
                    .ok_or_else(|| corrupt("ledger kind", &kind))
            })
            .collect::<Result<Vec<_>, _>>()?;
        totals.sort_by_key(|(k, _)| EntryKind::ALL.iter().position(|x| x == k));
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::conditional_update;
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};
    use domain::ledger::{Figure, Figures};

    /// The three fixed statements of SQLite keep PRODUCT.md's figures: used never above the
    /// quantity, never below zero, the quantity never below what is used; a refused change
    /// writes nothing, and an unmetered benefit changes never.
    #[test]
    fn the_conditional_updates_keep_the_figures_exact() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute(
            "CREATE TABLE benefits (id TEXT PRIMARY KEY, quantity BIGINT, used BIGINT, version BIGINT NOT NULL); \
             INSERT INTO benefits VALUES ('b', 10, 0, 1), ('u', NULL, NULL, 1);",
        )
        .unwrap();
        let mut change =
            |figure, amount| conditional_update(&mut conn, "b", figure, amount).unwrap();
        let figures = |quantity, used, version| Some((Figures { quantity, used }, version));
        assert_eq!(change(Figure::Used, 10), figures(10, 10, 2));
        assert_eq!(change(Figure::Used, 1), None, "used above the quantity");
        assert_eq!(change(Figure::Used, -11), None, "used below zero");
        assert_eq!(change(Figure::Used, -4), figures(10, 6, 3));
        assert_eq!(change(Figure::Quantity, -5), None, "quantity below used");
        assert_eq!(change(Figure::Quantity, -4), figures(6, 6, 4));
        assert_eq!(change(Figure::Quantity, 3), figures(9, 6, 5));
        assert_eq!(
            conditional_update(&mut conn, "u", Figure::Used, 1).unwrap(),
            None,
            "unmetered"
        );
    }
}
