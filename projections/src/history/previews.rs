//! Link previews in the history read model: `message.preview_added`, one event at a time.
//!
//! A preview lands only on a message that is not deleted and still has its URL (an edit may
//! have taken it out since the worker read it); it replaces an earlier preview of the same
//! URL, so a preview appended twice (a redelivery) is kept once. Its image becomes readable
//! through the message, like an attachment. Edits drop the previews of URLs they take out,
//! deletes drop them all (see `bulk::changes`).

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use sqlx::PgConnection;

/// Applies `message.preview_added`; false for any other event.
pub(crate) async fn apply_preview(
    conn: &mut PgConnection,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    let EventBody::PreviewAdded(added) = &event.body else {
        return Ok(false);
    };
    let preview = serde_json::to_value(&added.preview).unwrap_or_default();
    let image = added.preview.image.as_ref().map(|i| i.file_id);
    sqlx::query(
        "WITH shown AS (
             UPDATE messages m SET previews =
                 COALESCE((SELECT jsonb_agg(p) FROM jsonb_array_elements(m.previews) p
                           WHERE p->>'url' <> $3), '[]'::jsonb) || jsonb_build_array($4::jsonb)
             WHERE m.id = $1 AND m.room_id = $2 AND NOT m.deleted
               AND strpos(m.body, $3) > 0
             RETURNING m.id)
         UPDATE files SET attached = true
         WHERE id = $5 AND NOT attached AND EXISTS (SELECT 1 FROM shown)",
    )
    .bind(added.message_id)
    .bind(event.room_id)
    .bind(&added.preview.url)
    .bind(preview)
    .bind(image)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}
