//! A room's calls, newest first.

use chrono::{DateTime, Utc};
use natter_schemas::calls::CallSummary;
use sqlx::PgPool;
use uuid::Uuid;

type Row = (
    Uuid,
    Uuid,
    Uuid,
    Vec<Uuid>,
    DateTime<Utc>,
    DateTime<Utc>,
    Uuid,
    i64,
    bool,
    i64,
);

/// The room's newest `limit` calls, before `before_seq` when given.
pub async fn calls(
    pool: &PgPool,
    room: Uuid,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<CallSummary>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT call_id, room_id, caller, participants, started_at, ended_at, ended_by,
                duration_secs, answered, seq
         FROM calls WHERE room_id = $1 AND seq < COALESCE($2, 9223372036854775807)
         ORDER BY seq DESC LIMIT $3",
    )
    .bind(room)
    .bind(before_seq)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CallSummary {
            call_id: r.0,
            room_id: r.1,
            caller: r.2,
            participants: r.3,
            started_at: r.4,
            ended_at: r.5,
            ended_by: r.6,
            duration_secs: u64::try_from(r.7).unwrap_or(0),
            answered: r.8,
            seq: r.9,
        })
        .collect())
}
