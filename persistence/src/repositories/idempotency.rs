//! Idempotency keys, kept in the database so they hold across restarts and across several
//! server processes on one PostgreSQL.

use crate::connection::storage;
use crate::convert::{from_db, json, to_db, to_json};
use crate::schema::idempotency_keys;
use crate::tx::Tx;
use crate::{Database, DbConnection};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::error::StorageError;
use domain::idempotency::{
    decide, Claim, ClaimOutcome, Decision, IdempotencyKey, IdempotencyStore, KeyRecord,
    StoredResponse, RETENTION,
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

/// Claiming can find the key taken by a concurrent first use (a unique violation).
enum ClaimError {
    Storage(StorageError),
    Taken,
}

impl From<StorageError> for ClaimError {
    fn from(e: StorageError) -> Self {
        ClaimError::Storage(e)
    }
}

fn insert(
    conn: &mut DbConnection,
    claim: &Claim,
    fingerprint: &str,
    now: NaiveDateTime,
) -> Result<(), ClaimError> {
    use idempotency_keys::dsl as k;
    let inserted = diesel::insert_into(k::idempotency_keys)
        .values((
            k::scope.eq(&claim.scope),
            k::idempotency_key.eq(claim.key.as_str()),
            k::fingerprint.eq(fingerprint),
            k::claim_token.eq(claim.token.to_string()),
            k::created_at.eq(now),
            k::claimed_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(()),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Err(ClaimError::Taken)
        }
        Err(e) => Err(ClaimError::Storage(storage(e))),
    }
}

/// Stores the answer for a claim still held; `false` when the claim was lost.
fn store_response(
    conn: &mut DbConnection,
    claim: &Claim,
    response: &StoredResponse,
) -> Result<bool, StorageError> {
    use idempotency_keys::dsl as k;
    let changed = diesel::update(
        k::idempotency_keys
            .filter(k::scope.eq(&claim.scope))
            .filter(k::idempotency_key.eq(claim.key.as_str()))
            .filter(k::claim_token.eq(claim.token.to_string()))
            .filter(k::response_status.is_null()),
    )
    .set((
        k::response_status.eq(i32::from(response.status)),
        k::response_headers.eq(to_json(&response.headers)?),
        k::response_body.eq(&response.body),
    ))
    .execute(conn)
    .map_err(storage)?;
    Ok(changed == 1)
}

impl Tx<'_> {
    /// Keeps the answer of the request holding `claim`, in the transaction of the work it
    /// answers for. `false` when the claim was taken over meanwhile: roll back.
    pub fn complete_claim(
        &mut self,
        claim: &Claim,
        response: &StoredResponse,
    ) -> Result<bool, StorageError> {
        store_response(self.conn, claim, response)
    }
}

impl IdempotencyStore for Database {
    fn claim(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, StorageError> {
        use idempotency_keys::dsl as k;
        let claim = Claim {
            scope: scope.to_owned(),
            key: key.clone(),
            token: Uuid::new_v4(),
        };
        let at = to_db(now);
        let outcome = self.write_transaction(|conn| {
            let this = k::idempotency_keys
                .filter(k::scope.eq(scope))
                .filter(k::idempotency_key.eq(key.as_str()));
            let existing: Option<KeyRow> = this.first(conn).optional().map_err(storage)?;
            let Some(row) = existing else {
                insert(conn, &claim, fingerprint, at)?;
                return Ok(ClaimOutcome::Claimed(claim.clone()));
            };
            let previous_token = row._claim_token.clone();
            match decide(&row.into_record()?, fingerprint, now) {
                Decision::Replay(response) => Ok(ClaimOutcome::Replay(response)),
                Decision::InFlight => Ok(ClaimOutcome::InFlight),
                Decision::Mismatch => Ok(ClaimOutcome::Mismatch),
                Decision::Replace => {
                    diesel::delete(this).execute(conn).map_err(storage)?;
                    insert(conn, &claim, fingerprint, at)?;
                    Ok(ClaimOutcome::Claimed(claim.clone()))
                }
                Decision::TakeOver => {
                    let taken = diesel::update(
                        this.filter(k::claim_token.eq(previous_token))
                            .filter(k::response_status.is_null()),
                    )
                    .set((
                        k::claim_token.eq(claim.token.to_string()),
                        k::claimed_at.eq(at),
                    ))
                    .execute(conn)
                    .map_err(storage)?;
                    Ok(if taken == 1 {
                        ClaimOutcome::Claimed(claim.clone())
                    } else {
                        ClaimOutcome::InFlight
                    })
                }
            }
        });
        match outcome {
            Ok(outcome) => Ok(outcome),
            Err(ClaimError::Taken) => Ok(ClaimOutcome::InFlight),
            Err(ClaimError::Storage(e)) => Err(e),
        }
    }

    fn complete(&self, claim: &Claim, response: &StoredResponse) -> Result<(), StorageError> {
        self.write_transaction(|conn| store_response(conn, claim, response).map(|_| ()))
    }

    fn release(&self, claim: &Claim) -> Result<(), StorageError> {
        use idempotency_keys::dsl as k;
        self.write_transaction(|conn| {
            diesel::delete(
                k::idempotency_keys
                    .filter(k::scope.eq(&claim.scope))
                    .filter(k::idempotency_key.eq(claim.key.as_str()))
                    .filter(k::claim_token.eq(claim.token.to_string()))
                    .filter(k::response_status.is_null()),
            )
            .execute(conn)
            .map_err(storage)?;
            Ok(())
        })
    }

    fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize, StorageError> {
        use idempotency_keys::dsl as k;
        self.write_transaction(|conn| {
            diesel::delete(k::idempotency_keys.filter(k::created_at.lt(to_db(now - RETENTION))))
                .execute(conn)
                .map_err(storage)
        })
    }
}
