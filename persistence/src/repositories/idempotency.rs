//! Idempotency keys, kept in the database so they hold across restarts and across several
//! server processes on one PostgreSQL.

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

impl Tx<'_> {
    /// Looks the key up for a request about to run in this transaction. On PostgreSQL a
    /// transaction-scoped advisory lock on the key makes a concurrent request with the same
    /// key (on any server of the database) see `InFlight` at once instead of waiting; on
    /// SQLite write transactions already run one at a time.
    pub fn check_key(
        &mut self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<KeyState, StorageError> {
        use idempotency_keys::dsl as k;
        if let DbConnection::Postgresql(conn) = &mut *self.conn {
            #[derive(QueryableByName)]
            struct Locked {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                locked: bool,
            }
            let lock: Locked = diesel::sql_query(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked",
            )
            .bind::<diesel::sql_types::Text, _>(format!("{scope}\u{1f}{}", key.as_str()))
            .get_result(conn)
            .map_err(storage)?;
            if !lock.locked {
                return Ok(KeyState::InFlight);
            }
        }
        let this = k::idempotency_keys
            .filter(k::scope.eq(scope))
            .filter(k::idempotency_key.eq(key.as_str()));
        let existing: Option<KeyRow> = this.first(self.conn).optional().map_err(storage)?;
        let Some(row) = existing else {
            return Ok(KeyState::Fresh);
        };
        Ok(match decide(&row.into_record()?, fingerprint, now) {
            Decision::Replay(response) => KeyState::Replay(response),
            Decision::Mismatch => KeyState::Mismatch,
            Decision::InFlight => KeyState::InFlight,
            Decision::Replace | Decision::TakeOver => {
                diesel::delete(this).execute(self.conn).map_err(storage)?;
                KeyState::Fresh
            }
        })
    }

    /// Keeps the answer of the request that used the key, in the transaction of its work.
    pub fn keep_answer(
        &mut self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        use idempotency_keys::dsl as k;
        let at = to_db(now);
        diesel::insert_into(k::idempotency_keys)
            .values((
                k::scope.eq(scope),
                k::idempotency_key.eq(key.as_str()),
                k::fingerprint.eq(fingerprint),
                k::claim_token.eq(Uuid::new_v4().to_string()),
                k::response_status.eq(Some(i32::from(response.status))),
                k::response_headers.eq(Some(to_json(&response.headers)?)),
                k::response_body.eq(Some(&response.body)),
                k::created_at.eq(at),
                k::claimed_at.eq(at),
            ))
            .execute(self.conn)
            .map_err(storage)?;
        Ok(())
    }
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
