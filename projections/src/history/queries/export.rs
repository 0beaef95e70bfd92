//! What a user's export (`GET /v1/me/export`) reads: their own messages and files.

use chrono::{DateTime, Utc};
use natter_schemas::model::Message;
use sqlx::PgPool;
use uuid::Uuid;

use super::messages::{MESSAGE_COLUMNS, MessageRow, Viewer};

/// Most messages an export holds.
pub const MAX_EXPORTED_MESSAGES: i64 = 100_000;

/// The messages `viewer` posted that are not deleted, oldest first.
pub async fn own_messages(pool: &PgPool, viewer: Viewer<'_>) -> Result<Vec<Message>, sqlx::Error> {
    let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m
         WHERE m.sender_id = $1 AND NOT m.deleted ORDER BY m.seq LIMIT $2"
    )))
    .bind(viewer.id)
    .bind(MAX_EXPORTED_MESSAGES)
    .fetch_all(pool)
    .await?;
    Ok(super::messages::into_messages(rows, viewer.urls))
}

/// `owner`'s files that are not removed: `(id, name, size, content_type, uploaded_at)`.
pub async fn exported_files(
    pool: &PgPool,
    owner: Uuid,
) -> Result<Vec<(Uuid, String, i64, String, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, size, content_type, uploaded_at FROM files
         WHERE owner_id = $1 AND removed_at IS NULL ORDER BY uploaded_at",
    )
    .bind(owner)
    .fetch_all(pool)
    .await
}
