//! `natter rooms show --at`: a room as it stood at a seq (time travel).

use std::time::Duration;

use natter_bus::Bus;
use natter_projections::shadow::{self, Indexes, Shadow};
use natter_schemas::Event;
use sqlx::PgPool;

use super::{Exclusive, ROOM_AT_LOCK, ToolError};

/// A room as it stood at a seq: replayed from the room's events up to it, into scratch
/// tables of the history projection (the same appliers as the live read model).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoomAt {
    pub room_id: uuid::Uuid,
    /// The seq the state is as of.
    pub at: u64,
    /// The log's head when asked.
    pub last_seq: u64,
    /// The room's events up to `at`.
    pub events: u64,
    /// `None` when the room did not exist (yet) at `at`.
    pub room: Option<RoomStateAt>,
    pub members: Vec<MemberAt>,
    pub bans: Vec<uuid::Uuid>,
    pub pins: Vec<uuid::Uuid>,
    pub messages: i64,
    pub deleted_messages: i64,
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct RoomStateAt {
    pub kind: String,
    pub name: String,
    pub topic: Option<String>,
    pub visibility: String,
    pub archived: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The seq of the room's newest event up to `at`.
    pub last_seq: i64,
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct MemberAt {
    pub user_id: uuid::Uuid,
    pub username: Option<String>,
    pub role: String,
    pub joined_seq: i64,
    pub muted_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Events applied per transaction when replaying one room.
const ROOM_BATCH: usize = 5_000;

/// The state of `room` as of seq `at` (the head when `None`).
pub async fn room_at(
    bus: &Bus,
    live: &PgPool,
    room: uuid::Uuid,
    at: Option<u64>,
) -> Result<RoomAt, ToolError> {
    use futures::StreamExt;
    use natter_projections::apply_batch;
    use natter_projections::history::History;

    let last_seq = bus.last_seq().await?;
    let at = at.unwrap_or(last_seq).min(last_seq);
    // Each time travel holds a lock named after its scratch schema while it works: schemas
    // whose lock is free were left by a killed run, and are dropped here.
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'natter\\_at\\_%'",
    )
    .fetch_all(live)
    .await?;
    for schema in stale {
        if let Some(free) = Exclusive::take(live, ROOM_AT_LOCK, &schema).await? {
            tracing::info!(%schema, "dropping what an interrupted time travel left");
            shadow::drop_schema(live, &schema).await?;
            free.release().await;
        }
    }
    let schema = format!("natter_at_{}", uuid::Uuid::new_v4().simple());
    let held = Exclusive::take(live, ROOM_AT_LOCK, &schema)
        .await?
        .ok_or_else(|| natter_bus::BusError::other("time travel lock"))?;
    let scratch = Shadow::create(live, &schema, &History, 1, Indexes::Deferred).await?;
    let result = async {
        let (mut messages, pending) = bus
            .read_filtered(bus.subjects().room_events(room), 1)
            .await?;
        let mut batch = Vec::new();
        let (mut from, mut through, mut events) = (1, 0, 0);
        for _ in 0..pending {
            let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
                .await
                .map_err(|_| natter_bus::BusError::unavailable("reading the room timed out"))?
                .ok_or_else(|| natter_bus::BusError::unavailable("the room's events ended early"))?
                .map_err(|e| natter_bus::BusError::unavailable(format!("reading the room: {e}")))?;
            let seq = message
                .info()
                .map_err(|e| natter_bus::BusError::other(format!("message info: {e}")))?
                .stream_sequence;
            if seq > at {
                break;
            }
            events += 1;
            through = seq;
            match Event::from_bytes(&message.payload) {
                Ok(mut event) => {
                    bus.unseal(&mut event)
                        .await
                        .map_err(|e| natter_bus::BusError::unavailable(format!("unseal: {e}")))?;
                    batch.push((seq, event));
                }
                Err(e) => tracing::error!(seq, error = %e, "skipping undecodable event"),
            }
            if batch.len() >= ROOM_BATCH {
                apply_batch(scratch.pool(), &History, &batch, from, through).await?;
                batch.clear();
                from = through + 1;
            }
        }
        if through >= from {
            apply_batch(scratch.pool(), &History, &batch, from, through).await?;
        }
        let pool = scratch.pool();
        let state: Option<RoomStateAt> = sqlx::query_as(
            "SELECT kind, name, topic, visibility, archived, created_at, last_seq FROM rooms WHERE id = $1",
        )
        .bind(room)
        .fetch_optional(pool)
        .await?;
        let mut members: Vec<MemberAt> = sqlx::query_as(
            "SELECT user_id, NULL::text AS username, role, joined_seq, muted_until FROM members
             WHERE room_id = $1 ORDER BY joined_seq, user_id",
        )
        .bind(room)
        .fetch_all(pool)
        .await?;
        // Usernames never change: the live users table has them.
        let ids: Vec<uuid::Uuid> = members.iter().map(|m| m.user_id).collect();
        let names: Vec<(uuid::Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, username FROM \"{}\".users WHERE id = ANY($1)",
            shadow::live_schema(live).await?
        )))
        .bind(&ids)
        .fetch_all(live)
        .await?;
        let names: std::collections::HashMap<_, _> = names.into_iter().collect();
        for m in &mut members {
            m.username = names.get(&m.user_id).cloned();
        }
        let bans = sqlx::query_scalar("SELECT user_id FROM bans WHERE room_id = $1 ORDER BY seq")
            .bind(room)
            .fetch_all(pool)
            .await?;
        let pins = sqlx::query_scalar("SELECT message_id FROM pins WHERE room_id = $1 ORDER BY seq")
            .bind(room)
            .fetch_all(pool)
            .await?;
        let (messages, deleted_messages): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted)
             FROM messages WHERE room_id = $1",
        )
        .bind(room)
        .fetch_one(pool)
        .await?;
        Ok(RoomAt {
            room_id: room,
            at,
            last_seq,
            events,
            room: state,
            members,
            bans,
            pins,
            messages,
            deleted_messages,
        })
    }
    .await;
    let discarded = scratch.discard(live).await;
    held.release().await;
    discarded?;
    result
}
