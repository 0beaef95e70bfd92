//! Blocks, settings, muted rooms and accepted direct conversations in the history read model, one event at
//! a time.

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use sqlx::PgConnection;

/// Applies a block, an unblock, a settings change, a room muted or an acceptance; false for any other event.
pub(crate) async fn apply_people_event(
    conn: &mut PgConnection,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    let user = event.actor_id;
    match &event.body {
        EventBody::UserBlocked(b) => {
            sqlx::query(
                "INSERT INTO blocks (user_id, blocked_id, blocked_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(user)
            .bind(b.user_id)
            .bind(event.occurred_at)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::UserUnblocked(b) => {
            sqlx::query("DELETE FROM blocks WHERE user_id = $1 AND blocked_id = $2")
                .bind(user)
                .bind(b.user_id)
                .execute(&mut *conn)
                .await?;
        }
        EventBody::SettingsUpdated(s) => {
            sqlx::query(
                "UPDATE users SET dm_requests = COALESCE($2, dm_requests),
                        notify = COALESCE($3, notify)
                 WHERE id = $1",
            )
            .bind(user)
            .bind(s.dm_requests)
            .bind(s.notify.map(|n| n.as_str()))
            .execute(&mut *conn)
            .await?;
        }
        EventBody::RoomMuted(m) if m.muted => {
            sqlx::query(
                "INSERT INTO room_mutes (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(user)
            .bind(m.room_id)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::RoomMuted(m) => {
            sqlx::query("DELETE FROM room_mutes WHERE user_id = $1 AND room_id = $2")
                .bind(user)
                .bind(m.room_id)
                .execute(&mut *conn)
                .await?;
        }
        EventBody::MemberAccepted(m) => {
            sqlx::query("UPDATE members SET pending = false WHERE room_id = $1 AND user_id = $2")
                .bind(event.room_id)
                .bind(m.user_id)
                .execute(&mut *conn)
                .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}
