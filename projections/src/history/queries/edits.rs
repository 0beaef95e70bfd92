//! A message's edit history: each version of its body.

use chrono::{DateTime, Utc};
use natter_schemas::model::MessageVersion;
use sqlx::PgPool;
use uuid::Uuid;

/// The versions of a message's body, oldest first; empty when it is deleted or unknown.
pub async fn versions(pool: &PgPool, id: Uuid) -> Result<Vec<MessageVersion>, sqlx::Error> {
    let Some((seq, body, created_at)): Option<(i64, Option<String>, DateTime<Utc>)> =
        sqlx::query_as("SELECT seq, body, created_at FROM messages WHERE id = $1 AND NOT deleted")
            .bind(id)
            .fetch_optional(pool)
            .await?
    else {
        return Ok(Vec::new());
    };
    let edits: Vec<(i64, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT seq, body_before, edited_at FROM message_edits WHERE message_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    // Each edit records the body it replaced: version i's body is edit i's body_before, and the
    // newest version's body is the current one.
    let mut versions = Vec::with_capacity(edits.len() + 1);
    let (mut at_seq, mut at) = (seq, created_at);
    for (edit_seq, before, edited_at) in edits {
        versions.push(MessageVersion {
            seq: at_seq,
            body: before,
            at,
        });
        (at_seq, at) = (edit_seq, edited_at);
    }
    versions.push(MessageVersion {
        seq: at_seq,
        body: body.unwrap_or_default(),
        at,
    });
    Ok(versions)
}
