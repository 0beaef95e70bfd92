//! The slots of message versions: recorded as posts and edits are applied, and queued for
//! destruction when their message is deleted (the projector's reaper destroys them), which
//! makes the deleted text unreadable in the log too.

use natter_schemas::Event;
use natter_schemas::event::slot_of;
use sqlx::PgConnection;
use uuid::Uuid;

/// Records the slot of each of `versions` (message id, its event) that was sealed with one.
pub(crate) async fn record<'a>(
    conn: &mut PgConnection,
    versions: impl IntoIterator<Item = (Uuid, &'a Event)>,
) -> Result<(), sqlx::Error> {
    let (ids, slots): (Vec<Uuid>, Vec<String>) = versions
        .into_iter()
        .filter_map(|(id, event)| slot_of(event).map(|s| (id, s.to_text())))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO message_slots (message_id, slot)
         SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .bind(&slots)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues the slots of the deleted `messages` for destruction.
pub(crate) async fn queue_deleted(
    conn: &mut PgConnection,
    messages: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH gone AS (DELETE FROM message_slots WHERE message_id = ANY($1) RETURNING slot)
         INSERT INTO pending_slot_erasures (slot) SELECT slot FROM gone ON CONFLICT DO NOTHING",
    )
    .bind(messages)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
