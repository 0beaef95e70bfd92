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
        EventBody::UserErased(e) => erase(conn, e, event.occurred_at).await?,
        EventBody::NameReleased(_) => {}
        EventBody::MemberAccepted(m) => {
            sqlx::query(
                "UPDATE members SET pending = false, accepted = true
                 WHERE room_id = $1 AND user_id = $2",
            )
            .bind(event.room_id)
            .bind(m.user_id)
            .execute(&mut *conn)
            .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Drops every plaintext the read model holds of an erased user: their account, profile,
/// sessions, keys, blocks and settings, their memberships, their messages' text (the messages
/// keep their place, `erased`), the text of their edits, their files' names (the files are
/// swept) and the previews of their messages; and records the keys still to destroy.
async fn erase(
    conn: &mut PgConnection,
    e: &natter_schemas::people::UserErased,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    let user = e.user_id;
    sqlx::query(
        "UPDATE sessions SET ended_at = COALESCE(ended_at, $2),
                ended_reason = COALESCE(ended_reason, 'erased'), device = NULL
         WHERE user_id = $1",
    )
    .bind(user)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    for statement in [
        "DELETE FROM users WHERE id = $1",
        "DELETE FROM user_name_keys WHERE user_id = $1",
        "DELETE FROM device_keys WHERE user_id = $1",
        "DELETE FROM blocks WHERE user_id = $1 OR blocked_id = $1",
        "DELETE FROM room_mutes WHERE user_id = $1",
        "DELETE FROM members WHERE user_id = $1",
        "UPDATE messages SET body = '', html = NULL, attachments = NULL, previews = NULL, erased = true
         WHERE sender_id = $1",
        "UPDATE message_edits x SET body_before = '', html_before = NULL
         FROM messages m WHERE x.message_id = m.id AND m.sender_id = $1",
        // Attached: from now on only messages make their files readable, and none does any
        // more, so the sweeper removes them at its next pass. (Not left as it was: in a
        // partitioned rebuild the post that carried a file may be applied before or after
        // its upload, and its attachments are gone by the end.)
        "UPDATE files SET name = '', attached = true WHERE owner_id = $1",
    ] {
        sqlx::query(statement).bind(user).execute(&mut *conn).await?;
    }
    sqlx::query(
        "INSERT INTO pending_erasures (user_id, name_token, erased_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user)
    .bind(&e.name_token)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
