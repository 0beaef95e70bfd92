//! Calls in the history read model: `call.ended`, one event at a time. A call ends once: a
//! second summary of the same call (two hang-ups racing on two gateways) changes nothing.

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use sqlx::PgConnection;

use crate::seq_i64;

/// Applies `call.ended`; false for any other event.
pub(crate) async fn apply_call_event(
    conn: &mut PgConnection,
    seq: u64,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    let (EventBody::CallEnded(call), Some(room)) = (&event.body, event.room_id) else {
        return Ok(matches!(event.body, EventBody::CallEnded(_)));
    };
    sqlx::query(
        "INSERT INTO calls (call_id, room_id, caller, participants, started_at, ended_at,
                            ended_by, duration_secs, answered, seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT DO NOTHING",
    )
    .bind(call.call_id)
    .bind(room)
    .bind(call.caller)
    .bind(&call.participants)
    .bind(call.started_at)
    .bind(event.occurred_at)
    .bind(event.actor_id)
    .bind(i64::try_from(call.duration_secs).unwrap_or(i64::MAX))
    .bind(call.answered)
    .bind(seq_i64(seq))
    .execute(&mut *conn)
    .await?;
    Ok(true)
}
