//! Link previews in the history read model: `message.preview_added`, one event at a time.
//!
//! A preview lands only on a message that is not deleted and still links to its URL (an edit
//! may have taken it out since the worker read it); it replaces an earlier preview of the same
//! URL, so a preview appended twice (a redelivery) is kept once. Its image becomes readable
//! through the message, like an attachment. Edits keep only the previews of links they still
//! have ([`kept_previews`]), deletes drop them all (see `bulk::changes`).

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::previews::PreviewRef;
use natter_schemas::text::{self, Format};
use sqlx::PgConnection;
use sqlx::types::Json;

/// Links per message a preview may be of (the worker previews fewer).
const LINKS_LOOKED_AT: usize = 20;

/// Applies `message.preview_added`; false for any other event.
pub(crate) async fn apply_preview(
    conn: &mut PgConnection,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    let EventBody::PreviewAdded(added) = &event.body else {
        return Ok(false);
    };
    type Current = (String, Option<String>, Option<Json<Vec<PreviewRef>>>);
    let current: Option<Current> = sqlx::query_as(
        "SELECT COALESCE(body, ''), format, previews FROM messages
         WHERE id = $1 AND room_id = $2 AND NOT deleted",
    )
    .bind(added.message_id)
    .bind(event.room_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((body, format, previews)) = current else {
        return Ok(true);
    };
    let format = Format::from_name(format.as_deref());
    if !text::links(&body, format, LINKS_LOOKED_AT).contains(&added.preview.url) {
        return Ok(true);
    }
    let mut previews = previews.map(|p| p.0).unwrap_or_default();
    previews.retain(|p| p.url != added.preview.url);
    previews.push(added.preview.clone());
    sqlx::query("UPDATE messages SET previews = $2 WHERE id = $1")
        .bind(added.message_id)
        .bind(Json(&previews))
        .execute(&mut *conn)
        .await?;
    if let Some(image) = &added.preview.image {
        sqlx::query("UPDATE files SET attached = true WHERE id = $1 AND NOT attached")
            .bind(image.file_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

/// The previews a message keeps after an edit to `body`: those of links it still has; `None`
/// for none.
pub(crate) fn kept_previews(
    previews: Option<Json<Vec<PreviewRef>>>,
    body: &str,
    format: Format,
) -> Option<Json<Vec<PreviewRef>>> {
    let previews = previews?.0;
    let links = text::links(body, format, LINKS_LOOKED_AT);
    let kept: Vec<PreviewRef> = previews
        .into_iter()
        .filter(|p| links.contains(&p.url))
        .collect();
    (!kept.is_empty()).then_some(Json(kept))
}
