//! Reads of the unread model: counts per joined room, receipts. Each count is a subtraction
//! plus one probe of a (nearly always empty) partial index per room, whatever the rooms'
//! sizes.

use chrono::{DateTime, Utc};
use natter_schemas::model::{Receipt, RoomUnread};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::seq_i64;

#[derive(FromRow)]
struct UnreadRow {
    room_id: Uuid,
    unread: i64,
    mentions: i64,
    last_read_seq: i64,
    last_seq: i64,
}

impl From<UnreadRow> for RoomUnread {
    fn from(r: UnreadRow) -> Self {
        RoomUnread {
            room_id: r.room_id,
            unread: r.unread.max(0),
            mentions: r.mentions,
            last_read_seq: r.last_read_seq,
            last_seq: r.last_seq,
        }
    }
}

const UNREAD_SELECT: &str = "SELECT p.room_id, p.last_read_seq, r.last_seq,
        r.messages - p.read_ordinal
            - (SELECT count(*) FROM unread_messages d
               WHERE d.room_id = p.room_id AND d.deleted AND d.seq > p.last_read_seq) AS unread,
        p.mentions::bigint AS mentions
    FROM read_positions p JOIN unread_rooms r ON r.room_id = p.room_id
    WHERE p.user_id = $1";

/// Counts for every room `user` is a member of, the most recently active first.
pub async fn unread(pool: &PgPool, user: Uuid) -> Result<Vec<RoomUnread>, sqlx::Error> {
    let rows: Vec<UnreadRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{UNREAD_SELECT} ORDER BY r.last_seq DESC, p.room_id"
    )))
    .bind(user)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(RoomUnread::from).collect())
}

/// Counts for one room, when `user` is a member.
pub async fn room_unread(
    pool: &PgPool,
    user: Uuid,
    room: Uuid,
) -> Result<Option<RoomUnread>, sqlx::Error> {
    let row: Option<UnreadRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{UNREAD_SELECT} AND p.room_id = $2"
    )))
    .bind(user)
    .bind(room)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(RoomUnread::from))
}

/// Most receipts returned at once.
pub const MAX_RECEIPTS: i64 = 1000;

/// Members of `room` who have read up to `seq` (all members when `seq` is 0), furthest first.
pub async fn receipts(pool: &PgPool, room: Uuid, seq: u64) -> Result<Vec<Receipt>, sqlx::Error> {
    let rows: Vec<(Uuid, i64, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT user_id, last_read_seq, read_at, GREATEST(delivered_seq, last_read_seq)
         FROM read_positions
         WHERE room_id = $1 AND last_read_seq >= $2
         ORDER BY last_read_seq DESC, user_id LIMIT $3",
    )
    .bind(room)
    .bind(seq_i64(seq))
    .bind(MAX_RECEIPTS)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user_id, last_read_seq, read_at, delivered_seq)| Receipt {
            user_id,
            last_read_seq,
            read_at,
            delivered_seq,
        })
        .collect())
}

/// How many members of `room` other than `viewer` have had the event at `seq` delivered, and
/// how many have read it.
pub async fn receipt_counts(
    pool: &PgPool,
    room: Uuid,
    seq: u64,
    viewer: Uuid,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE GREATEST(delivered_seq, last_read_seq) >= $2),
                count(*) FILTER (WHERE last_read_seq >= $2)
         FROM read_positions WHERE room_id = $1 AND user_id <> $3",
    )
    .bind(room)
    .bind(seq_i64(seq))
    .bind(viewer)
    .fetch_one(pool)
    .await
}
