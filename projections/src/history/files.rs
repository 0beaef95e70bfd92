//! Files in the history read model: uploads and removals (one event at a time), and the
//! files messages carry (with the stretch of posts that carries them).

use natter_schemas::Event;
use natter_schemas::event::{EventBody, MessagePosted};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::seq_i64;

/// Applies `file.uploaded` and `file.removed`; false for any other event.
pub(crate) async fn apply_file_event(
    conn: &mut PgConnection,
    seq: u64,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    match &event.body {
        EventBody::FileUploaded(f) => {
            let image = f.image.as_ref();
            let thumbnail = image
                .and_then(|i| i.thumbnail.as_ref())
                .and_then(|t| serde_json::to_value(t).ok());
            sqlx::query(
                "INSERT INTO files (id, owner_id, name, size, content_type, width, height,
                                    thumbnail, hash, uploaded_at, seq, room_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT DO NOTHING",
            )
            .bind(f.file_id)
            .bind(event.actor_id)
            .bind(&f.name)
            .bind(i64::try_from(f.size).unwrap_or(i64::MAX))
            .bind(&f.content_type)
            .bind(image.map(|i| i64::from(i.width) as i32))
            .bind(image.map(|i| i64::from(i.height) as i32))
            .bind(thumbnail)
            .bind(&f.hash)
            .bind(event.occurred_at)
            .bind(seq_i64(seq))
            .bind(event.room_id)
            .execute(&mut *conn)
            .await?;
            Ok(true)
        }
        EventBody::FileRemoved(r) => {
            sqlx::query("UPDATE files SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL")
                .bind(r.file_id)
                .bind(event.occurred_at)
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// A post's files as the `attachments` column keeps them ('' for none: the bulk insert
/// passes them as text).
pub(crate) fn attachments_column(posted: &MessagePosted) -> String {
    if posted.attachments.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&posted.attachments).unwrap_or_default()
    }
}

/// Marks the files of the stored posts among `messages` as attached (from then on only
/// messages make them readable).
pub(crate) async fn mark_attached(
    conn: &mut PgConnection,
    messages: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE files SET attached = true
             WHERE NOT attached AND id IN (
                 SELECT (a->>'file_id')::uuid
                 FROM messages m, jsonb_array_elements(m.attachments) a
                 WHERE m.id = ANY($1) AND m.attachments IS NOT NULL)",
    )
    .bind(messages)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks as attached the files that stored messages carry but that are not marked yet: after
/// a partitioned rebuild, where a file's `file.uploaded` (a user's event) and the post that
/// carries it (a room's) are applied by different connections, in no set order.
pub(crate) async fn mark_carried_files(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE files f SET attached = true
         WHERE NOT f.attached AND EXISTS (
             SELECT 1 FROM messages m
             WHERE m.attachments @> jsonb_build_array(jsonb_build_object('file_id', f.id))
               AND m.attachments IS NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
