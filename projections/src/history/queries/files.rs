//! Files: one as the read model has it, the rooms whose live messages carry it, a user's
//! stored bytes, and a sender's uploads for a message.

use natter_schemas::files::{AttachmentRef, ThumbnailMeta};
use sqlx::types::Json;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// A file as the read model has it.
#[derive(Debug, Clone, FromRow)]
pub struct FileRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbnail: Option<Json<ThumbnailMeta>>,
    pub hash: String,
    /// A message carried it once: from then on only messages make it readable.
    pub attached: bool,
    pub removed: bool,
}

impl FileRow {
    /// The file as a message carries it.
    pub fn attachment_ref(&self) -> AttachmentRef {
        AttachmentRef {
            file_id: self.id,
            name: self.name.clone(),
            size: u64::try_from(self.size).unwrap_or(0),
            content_type: self.content_type.clone(),
            width: self.width.and_then(|w| u32::try_from(w).ok()),
            height: self.height.and_then(|h| u32::try_from(h).ok()),
            thumbnail: self.thumbnail.is_some(),
        }
    }
}

const FILE_COLUMNS: &str = "id, owner_id, name, size, content_type, width, height, thumbnail,
    hash, attached, removed_at IS NOT NULL AS removed";

/// One file, removed or not.
pub async fn file(pool: &PgPool, id: Uuid) -> Result<Option<FileRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// `owner`'s files among `ids` that are not removed (in no particular order).
pub async fn own_files(
    pool: &PgPool,
    owner: Uuid,
    ids: &[Uuid],
) -> Result<Vec<FileRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FILE_COLUMNS} FROM files
         WHERE id = ANY($1) AND owner_id = $2 AND removed_at IS NULL"
    )))
    .bind(ids)
    .bind(owner)
    .fetch_all(pool)
    .await
}

/// The rooms whose messages that are not deleted carry `file`, as an attachment or as a
/// preview's image (at most `limit`).
pub async fn rooms_showing(
    pool: &PgPool,
    file: Uuid,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let attached = serde_json::json!([{ "file_id": file }]);
    let previewed = serde_json::json!([{ "image": { "file_id": file } }]);
    sqlx::query_scalar(
        "SELECT DISTINCT room_id FROM messages
         WHERE ((attachments @> $1 AND attachments IS NOT NULL)
                OR (previews @> $3 AND previews IS NOT NULL))
           AND NOT deleted
         LIMIT $2",
    )
    .bind(attached)
    .bind(limit)
    .bind(previewed)
    .fetch_all(pool)
    .await
}

/// Whether `file` is someone's avatar.
pub async fn is_avatar(pool: &PgPool, file: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE avatar_id = $1)")
        .bind(file)
        .fetch_one(pool)
        .await
}

/// Bytes of `owner`'s files that are not removed (their quota's use).
pub async fn stored_bytes(pool: &PgPool, owner: Uuid) -> Result<u64, sqlx::Error> {
    let total: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(size), 0)::bigint FROM files
         WHERE owner_id = $1 AND removed_at IS NULL",
    )
    .bind(owner)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(total).unwrap_or(0))
}
