//! Blocks and settings: whom a user blocks, whether a block freezes a conversation, whom a
//! message pushes to.

use natter_schemas::people::{Block, Notify, Settings};
use sqlx::PgPool;
use uuid::Uuid;

/// Whom `user` blocks, latest first.
pub async fn blocks_of(pool: &PgPool, user: Uuid) -> Result<Vec<Block>, sqlx::Error> {
    let rows: Vec<(Uuid, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT blocked_id, blocked_at FROM blocks WHERE user_id = $1
         ORDER BY blocked_at DESC, blocked_id LIMIT 10000",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user_id, blocked_at)| Block {
            user_id,
            blocked_at,
        })
        .collect())
}

/// Whether a block stands between `user` and another member of `room` (a direct
/// conversation, where neither may then post).
pub async fn blocked_in_room(pool: &PgPool, room: Uuid, user: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM members m JOIN blocks b
               ON (b.user_id = m.user_id AND b.blocked_id = $2)
               OR (b.user_id = $2 AND b.blocked_id = m.user_id)
             WHERE m.room_id = $1 AND m.user_id <> $2)",
    )
    .bind(room)
    .bind(user)
    .fetch_one(pool)
    .await
}

pub async fn settings(pool: &PgPool, user: Uuid) -> Result<Option<Settings>, sqlx::Error> {
    let row: Option<(bool, String, Vec<Uuid>)> = sqlx::query_as(
        "SELECT dm_requests, notify,
                ARRAY(SELECT room_id FROM room_mutes WHERE user_id = $1 ORDER BY room_id)
         FROM users WHERE id = $1",
    )
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(dm_requests, notify, muted_rooms)| Settings {
        dm_requests,
        notify: Notify::parse(&notify).unwrap_or_default(),
        muted_rooms,
    }))
}

/// Whom a message in `room` from `sender`, mentioning `mentioned`, should reach while they
/// are not connected, and why (`true`: mentioned, `false`: a direct message): the mentioned
/// members who get mentions, and in a direct conversation the other members who get all,
/// but not those who muted the room, block the sender, or have not accepted the
/// conversation.
pub async fn push_targets(
    pool: &PgPool,
    room: Uuid,
    sender: Uuid,
    mentioned: &[Uuid],
) -> Result<Vec<(Uuid, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.user_id, m.user_id = ANY($3)
         FROM members m JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id
         WHERE m.room_id = $1 AND m.user_id <> $2 AND NOT m.pending
           AND ((m.user_id = ANY($3) AND u.notify IN ('all', 'mentions'))
                OR (r.kind = 'dm' AND u.notify = 'all'))
           AND NOT EXISTS (SELECT 1 FROM room_mutes x
                           WHERE x.user_id = m.user_id AND x.room_id = $1)
           AND NOT EXISTS (SELECT 1 FROM blocks b
                           WHERE b.user_id = m.user_id AND b.blocked_id = $2)
         ORDER BY m.user_id",
    )
    .bind(room)
    .bind(sender)
    .bind(mentioned)
    .fetch_all(pool)
    .await
}
