//! Device keys: a user's directory, and the keys of a room's members.

use chrono::{DateTime, Utc};
use natter_schemas::keys::DeviceKey;
use sqlx::PgPool;
use uuid::Uuid;

type Row = (Uuid, String, String, String, DateTime<Utc>);

fn key(r: Row) -> DeviceKey {
    DeviceKey {
        user_id: r.0,
        key_id: r.1,
        algorithm: r.2,
        public_key: r.3,
        published_at: r.4,
    }
}

/// `user`'s published keys, oldest first.
pub async fn user_keys(pool: &PgPool, user: Uuid) -> Result<Vec<DeviceKey>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT user_id, key_id, algorithm, public_key, published_at FROM device_keys
         WHERE user_id = $1 ORDER BY seq",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(key).collect())
}

/// The published keys of `room`'s members, by member, oldest first.
pub async fn room_keys(pool: &PgPool, room: Uuid) -> Result<Vec<DeviceKey>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT k.user_id, k.key_id, k.algorithm, k.public_key, k.published_at
         FROM members m JOIN device_keys k ON k.user_id = m.user_id
         WHERE m.room_id = $1 ORDER BY k.user_id, k.seq",
    )
    .bind(room)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(key).collect())
}
