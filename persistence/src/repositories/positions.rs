//! SQLite: an audit line becomes an event in the transaction that writes it (one writer):
//! it takes the organization's next position, and one delivery is written for each webhook
//! that wants it. On PostgreSQL the sequencer of `events` does both after the commit.

use crate::connect::storage;
use crate::convert::to_db;
use diesel::prelude::*;
use domain::audit::AuditEvent;
use domain::error::StorageError;
use domain::events::EventType;
use domain::ids::OrganizationId;

/// SQLite: the organization's next event position, in the caller's transaction (on
/// PostgreSQL [`append_event_pg`] takes it in the statement that writes the line).
pub(super) fn next_position(
    conn: &mut diesel::SqliteConnection,
    organization: OrganizationId,
) -> Result<i64, StorageError> {
    use crate::fixed::{fixed, Statement};
    use diesel::sql_types::{BigInt, Text};
    struct Next;
    impl Statement for Next {
        const SQL: &'static str = "INSERT INTO event_positions (organization_id, last_position) \
            VALUES (?1, 1) ON CONFLICT (organization_id) \
            DO UPDATE SET last_position = last_position + 1 RETURNING last_position";
    }
    #[derive(QueryableByName)]
    struct Position {
        #[diesel(sql_type = BigInt)]
        last_position: i64,
    }
    let next: Position = fixed::<Next, _>(|q| q.bind::<Text, _>(organization.to_string()))
        .get_result(conn)
        .map_err(storage)?;
    Ok(next.last_position)
}

/// SQLite: one delivery of the event for each live subscription that wants its type, of a
/// partner with an approved, unended permission on the organization, in one statement
/// (the same as the end of [`append_event_pg`]).
pub(super) fn fan_out(
    conn: &mut diesel::SqliteConnection,
    organization: OrganizationId,
    position: i64,
    event: &AuditEvent,
) -> Result<(), StorageError> {
    use crate::fixed::{fixed, Statement};
    use diesel::sql_types::{BigInt, Text, Timestamp};
    struct FanOut;
    impl Statement for FanOut {
        const SQL: &'static str = "INSERT INTO webhook_deliveries \
            (id, webhook_id, organization_id, position, status, attempts, next_attempt_at, \
             created_at) \
            SELECT w.id || ':' || ?1 || ':' || ?2, w.id, ?1, ?2, 'pending', 0, ?3, ?3 \
            FROM webhooks w JOIN partner_permissions p ON p.partner_id = w.partner_id \
            WHERE p.organization_id = ?1 AND p.status = 'approved' \
              AND (p.expires_at IS NULL OR p.expires_at > ?3) AND w.removed_at IS NULL \
              AND (w.event_types = '[]' OR instr(w.event_types, ?4) > 0) \
            RETURNING 1 AS written";
    }
    #[derive(QueryableByName)]
    struct Written {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)] // only counted
        written: i32,
    }
    // Its rows read, not `execute`d: so it stays prepared (see `crate::fixed`).
    let written: Vec<Written> = fixed::<FanOut, _>(|q| {
        q.bind::<Text, _>(organization.to_string())
            .bind::<BigInt, _>(position)
            .bind::<Timestamp, _>(to_db(event.at))
            .bind::<Text, _>(format!("\"{}\"", EventType::of(event.action).code()))
    })
    .load(conn)
    .map_err(storage)?;
    if !written.is_empty() {
        crate::write_counter::deliveries_written();
    }
    Ok(())
}
