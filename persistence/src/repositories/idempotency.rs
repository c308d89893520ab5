//! Idempotency keys, kept in the database so they hold across restarts and across several
//! server processes on one PostgreSQL.

use crate::connect::execute_native;
use crate::connection::storage;
use crate::convert::{from_db, json, to_db, to_json};
use crate::schema::idempotency_keys;
use crate::tx::Tx;
use crate::{Database, DbConnection};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::error::StorageError;
use domain::idempotency::{
    decide, Decision, IdempotencyKey, IdempotencyStore, KeyRecord, StoredResponse, RETENTION,
};
use uuid::Uuid;

#[derive(Queryable)]
struct KeyRow {
    _scope: String,
    _key: String,
    fingerprint: String,
    _claim_token: String,
    response_status: Option<i32>,
    response_headers: Option<String>,
    response_body: Option<String>,
    created_at: NaiveDateTime,
    claimed_at: NaiveDateTime,
}

impl KeyRow {
    fn into_record(self) -> Result<KeyRecord, StorageError> {
        let response = match (self.response_status, self.response_body) {
            (Some(status), Some(body)) => Some(StoredResponse {
                status: u16::try_from(status)
                    .map_err(|_| StorageError(format!("stored status {status}")))?,
                headers: json(
                    "stored headers",
                    self.response_headers.as_deref().unwrap_or("[]"),
                )?,
                body,
            }),
            _ => None,
        };
        Ok(KeyRecord {
            fingerprint: self.fingerprint,
            response,
            created_at: from_db(self.created_at),
            claimed_at: from_db(self.claimed_at),
        })
    }
}

/// What a request's key says, read inside the transaction of its work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// First use (or the earlier one is past its 24 hours): do the work.
    Fresh,
    /// Answer this again.
    Replay(StoredResponse),
    /// The key was used with another request.
    Mismatch,
    /// A request with this key is running now.
    InFlight,
}

/// PostgreSQL: what the lookup of a key under its advisory lock found.
pub(crate) enum LockedKey {
    /// Another transaction holds the key's lock: a request with the key is running.
    HeldElsewhere,
    /// The lock is this transaction's; the key has no record (or the one it read).
    Taken(Option<KeyRecord>),
}

/// PostgreSQL: the key a transaction will check, looked up by its first benefit read (see
/// [`Tx::key_ahead`]).
pub(crate) struct KeyAhead {
    pub(crate) scope: String,
    pub(crate) key: IdempotencyKey,
    /// What the lookup found, once made.
    pub(crate) found: Option<LockedKey>,
}

/// Optimistic: an answer to keep under a key, written with the change it answers (see
/// [`crate::tx`]).
pub(crate) struct PendingKey {
    pub(crate) scope: String,
    pub(crate) key: String,
    pub(crate) fingerprint: String,
    pub(crate) status: i32,
    pub(crate) headers: String,
    pub(crate) body: String,
    pub(crate) at: NaiveDateTime,
}

impl Tx<'_> {
    /// Says which key this transaction will check ([`Tx::check_key`]) before it reads the
    /// benefit its work is about: on PostgreSQL the first [`Tx::benefit`] then takes the key's
    /// lock and reads its record in its own statement, one round trip less for each
    /// quantity-changing request with a key. On SQLite nothing changes.
    pub fn key_ahead(&mut self, scope: &str, key: &IdempotencyKey) {
        if self.is_postgres() {
            self.key_ahead = Some(KeyAhead {
                scope: scope.to_owned(),
                key: key.clone(),
                found: None,
            });
        }
    }

    /// Looks the key up for a request about to run in this transaction. On PostgreSQL a
    /// transaction-scoped advisory lock on the key makes a concurrent request with the same
    /// key (on any server of the database) see `InFlight` at once instead of waiting; on
    /// SQLite write transactions already run one at a time. An optimistic transaction (see
    /// [`crate::tx`]) looked the key up before its `BEGIN`, so it holds no lock after that
    /// read: a request with the same key that commits meanwhile makes its change's
    /// statement write nothing, and the work runs again and replays that answer.
    pub fn check_key(
        &mut self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<KeyState, StorageError> {
        use idempotency_keys::dsl as k;
        let ahead = self
            .key_ahead
            .take()
            .filter(|a| a.scope == scope && a.key == *key)
            .and_then(|a| a.found);
        if ahead.is_none() && self.deferred() {
            // Optimistic, the benefit taken as kept: the key is written by the change's own
            // statement, which is refused if the key was used, and the work then runs again
            // in an ordinary transaction that looks it up. Until then nothing it decides is
            // final (Tx::speculative).
            self.key_unverified = true;
            return Ok(KeyState::Fresh);
        }
        let found = match ahead {
            Some(found) => found,
            None => match self.conn()? {
                DbConnection::Postgresql(conn) => locked_key_pg(conn, scope, key)?,
                // Write transactions run one at a time: the key is this one's.
                // On SQLite's own connection: through the MultiConnection its SQL would be
                // written again on every run (see `connect::execute_native`).
                DbConnection::Sqlite(conn) => LockedKey::Taken(
                    k::idempotency_keys
                        .filter(k::scope.eq(scope))
                        .filter(k::idempotency_key.eq(key.as_str()))
                        .first::<KeyRow>(conn)
                        .optional()
                        .map_err(storage)?
                        .map(KeyRow::into_record)
                        .transpose()?,
                ),
            },
        };
        let existing = match found {
            LockedKey::HeldElsewhere => return Ok(KeyState::InFlight),
            LockedKey::Taken(record) => record,
        };
        let Some(record) = existing else {
            return Ok(KeyState::Fresh);
        };
        Ok(match decide(&record, fingerprint, now) {
            Decision::Replay(response) => KeyState::Replay(response),
            Decision::Mismatch => KeyState::Mismatch,
            Decision::InFlight => KeyState::InFlight,
            Decision::Replace | Decision::TakeOver => {
                diesel::delete(
                    k::idempotency_keys
                        .filter(k::scope.eq(scope))
                        .filter(k::idempotency_key.eq(key.as_str())),
                )
                .execute(self.conn()?)
                .map_err(storage)?;
                KeyState::Fresh
            }
        })
    }

    /// Keeps the answer of the request that used the key, in the transaction of its work:
    /// `false` when another request kept one for the key first (PostgreSQL: it committed
    /// after this transaction looked the key up; see [`locked_key_pg`]), and nothing was kept.
    #[must_use = "an answer not kept means the work must not commit"]
    pub fn keep_answer(
        &mut self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        use idempotency_keys::dsl as k;
        let at = to_db(now);
        if self.pending_change.is_some() && self.pending_key.is_none() {
            // Optimistic: kept by the change's own statement, which writes nothing when
            // another request kept an answer under the key first (a conflict: the work runs
            // again, and finds that answer).
            self.pending_key = Some(PendingKey {
                scope: scope.to_owned(),
                key: key.as_str().to_owned(),
                fingerprint: fingerprint.to_owned(),
                status: i32::from(response.status),
                headers: to_json(&response.headers)?,
                body: response.body.clone(),
                at,
            });
            return Ok(true);
        }
        let row = (
            k::scope.eq(scope),
            k::idempotency_key.eq(key.as_str()),
            k::fingerprint.eq(fingerprint),
            k::claim_token.eq(Uuid::new_v4().to_string()),
            k::response_status.eq(Some(i32::from(response.status))),
            k::response_headers.eq(Some(to_json(&response.headers)?)),
            k::response_body.eq(Some(&response.body)),
            k::created_at.eq(at),
            k::claimed_at.eq(at),
        );
        // On each backend's own connection: `ON CONFLICT` does not compile through the
        // MultiConnection backend.
        let written = execute_native(
            self.conn()?,
            diesel::insert_into(k::idempotency_keys)
                .values(row)
                .on_conflict_do_nothing(),
        )
        .map_err(storage)?;
        Ok(written == 1)
    }
}

/// PostgreSQL: the key's lookup as parts of a statement (`$1` [`key_lock`], `$2` the scope,
/// `$3` the key): its columns ([`KeyColumns`]) and its `FROM` (the lock, then the key's row
/// read only when the lock was taken). Shared by [`locked_key_pg`] and the benefit read that
/// looks the key up ahead ([`Tx::key_ahead`]).
macro_rules! key_lookup {
    (columns) => {
        "l.locked, k.fingerprint, k.response_status, k.response_headers, k.response_body, \
         k.created_at, k.claimed_at"
    };
    (from) => {
        "(SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked) l \
         LEFT JOIN idempotency_keys k ON l.locked AND k.scope = $2 AND k.idempotency_key = $3"
    };
}
pub(crate) use key_lookup;

/// The name of a key's advisory lock (`$1` of [`key_lookup`]).
pub(crate) fn key_lock(scope: &str, key: &IdempotencyKey) -> String {
    format!("{scope}\u{1f}{}", key.as_str())
}

/// The columns of [`key_lookup`].
#[derive(QueryableByName)]
pub(crate) struct KeyColumns {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    fingerprint: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    response_status: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    response_headers: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    response_body: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    created_at: Option<NaiveDateTime>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    claimed_at: Option<NaiveDateTime>,
}

impl KeyColumns {
    pub(crate) fn into_found(
        self,
        scope: &str,
        key: &IdempotencyKey,
    ) -> Result<LockedKey, StorageError> {
        if !self.locked {
            return Ok(LockedKey::HeldElsewhere);
        }
        let (Some(fingerprint), Some(created_at), Some(claimed_at)) =
            (self.fingerprint, self.created_at, self.claimed_at)
        else {
            return Ok(LockedKey::Taken(None));
        };
        KeyRow {
            _scope: scope.to_owned(),
            _key: key.as_str().to_owned(),
            fingerprint,
            _claim_token: String::new(),
            response_status: self.response_status,
            response_headers: self.response_headers,
            response_body: self.response_body,
            created_at,
            claimed_at,
        }
        .into_record()
        .map(|r| LockedKey::Taken(Some(r)))
    }
}

/// PostgreSQL: takes the key's advisory lock and reads its record in one statement
/// ([`LockedKey::HeldElsewhere`] when a request with the key is running). The row is
/// read with the statement's snapshot, which may be taken just before a request that held
/// the lock committed its answer: the key then looks fresh, and that request's kept answer
/// makes [`Tx::keep_answer`] of this one find the key taken, so the work is rolled back and
/// never done twice.
fn locked_key_pg(
    conn: &mut diesel::PgConnection,
    scope: &str,
    key: &IdempotencyKey,
) -> Result<LockedKey, StorageError> {
    use crate::fixed::{fixed, Statement};
    use diesel::sql_types::Text;
    struct Lookup;
    impl Statement for Lookup {
        const SQL: &'static str =
            concat!("SELECT ", key_lookup!(columns), " FROM ", key_lookup!(from));
    }
    let found: KeyColumns = fixed::<Lookup, _>(|q| {
        q.bind::<Text, _>(key_lock(scope, key))
            .bind::<Text, _>(scope)
            .bind::<Text, _>(key.as_str())
    })
    .get_result(conn)
    .map_err(storage)?;
    found.into_found(scope, key)
}

impl IdempotencyStore for Database {
    fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize, StorageError> {
        use idempotency_keys::dsl as k;
        let cutoff = to_db(now - RETENTION);
        // Most rounds find nothing to purge: a read first, so that they start no write (a
        // write makes every cached answer stale, on every server).
        let due: Option<String> = k::idempotency_keys
            .filter(k::created_at.lt(cutoff))
            .select(k::idempotency_key)
            .first(&mut self.conn()?)
            .optional()
            .map_err(storage)?;
        if due.is_none() {
            return Ok(0);
        }
        self.write_transaction(|conn| {
            crate::write_counter::unseen();
            diesel::delete(k::idempotency_keys.filter(k::created_at.lt(cutoff)))
                .execute(conn)
                .map_err(storage)
        })
    }
}
