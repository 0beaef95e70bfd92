//! A message's edit history: each version of its body.

use chrono::{DateTime, Utc};
use natter_schemas::keys::Encrypted;
use natter_schemas::model::MessageVersion;
use natter_schemas::text::Format;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

/// The versions of a message's body, oldest first; empty when it is deleted, erased or unknown.
pub async fn versions(pool: &PgPool, id: Uuid) -> Result<Vec<MessageVersion>, sqlx::Error> {
    let Some((seq, created_at, body, format, html, encrypted)): Option<Row> = sqlx::query_as(
        "SELECT seq, created_at, COALESCE(body, ''), format, html, encrypted
         FROM messages WHERE id = $1 AND NOT deleted AND NOT erased",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(Vec::new());
    };
    let edits: Vec<Row> = sqlx::query_as(
        "SELECT seq, edited_at, body_before, format_before, html_before, encrypted_before
         FROM message_edits WHERE message_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    // Each edit records the body it replaced: version i's body is edit i's body_before, and the
    // newest version's body is the current one.
    let mut versions = Vec::with_capacity(edits.len() + 1);
    let (mut at_seq, mut at) = (seq, created_at);
    for (edit_seq, edited_at, before, format_before, html_before, encrypted_before) in edits {
        versions.push(MessageVersion {
            seq: at_seq,
            body: before,
            encrypted: encrypted_before.map(|e| e.0),
            format: Format::from_name(format_before.as_deref()),
            html: html_before,
            at,
        });
        (at_seq, at) = (edit_seq, edited_at);
    }
    versions.push(MessageVersion {
        seq: at_seq,
        body,
        encrypted: encrypted.map(|e| e.0),
        format: Format::from_name(format.as_deref()),
        html,
        at,
    });
    Ok(versions)
}

/// A version: the seq and time that set it, its body, format, HTML and encrypted content.
type Row = (
    i64,
    DateTime<Utc>,
    String,
    Option<String>,
    Option<String>,
    Option<Json<Encrypted>>,
);
