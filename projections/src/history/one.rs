//! Everything but the bulk, one event at a time in log order: users, rooms, members, roles,
//! pins, moderation (and files, previews, calls and device keys, through their own modules).

use natter_schemas::Event;

use natter_schemas::event::{EventBody, RoomCreated};
use sqlx::PgConnection;
use uuid::Uuid;

use super::MAX_PINS;
use crate::seq_i64;

/// Applies one event that is not a message.
pub(super) async fn apply_one(
    conn: &mut PgConnection,
    seq: u64,
    event: &Event,
) -> Result<(), sqlx::Error> {
    if super::files::apply_file_event(conn, seq, event).await?
        || super::previews::apply_preview(conn, event).await?
        || super::calls::apply_call_event(conn, seq, event).await?
        || super::keys::apply_key_event(conn, seq, event).await?
        || super::sessions::apply_session_event(conn, seq, event).await?
        || super::people::apply_people_event(conn, event).await?
    {
        return Ok(());
    }
    let seq = seq_i64(seq);
    let at = event.occurred_at;
    match &event.body {
        EventBody::UserRegistered(u) => {
            let inserted = sqlx::query(
                "INSERT INTO users (id, username, display_name, password_hash, created_at, seq)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(u.user_id)
            .bind(&u.username)
            .bind(&u.display_name)
            .bind(u.credentials.password_hash())
            .bind(at)
            .bind(seq)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 1 {
                super::directory::set_keys(conn, u.user_id, &u.username, &u.display_name).await?;
            }
        }
        EventBody::UserProfileUpdated(u) => {
            let named: Option<(String, String)> = sqlx::query_as(
                "UPDATE users SET display_name = COALESCE($2, display_name),
                        status_text = CASE WHEN $3::text IS NULL THEN status_text
                                           WHEN $3 = '' THEN NULL ELSE $3 END,
                        avatar_id = CASE WHEN $5 THEN NULL ELSE COALESCE($4, avatar_id) END
                     WHERE id = $1
                     RETURNING username, display_name",
            )
            .bind(u.user_id)
            .bind(&u.display_name)
            .bind(&u.status_text)
            .bind(u.avatar_id)
            .bind(u.clear_avatar)
            .fetch_optional(&mut *conn)
            .await?;
            if let (Some((username, display_name)), Some(_)) = (named, &u.display_name) {
                super::directory::set_keys(conn, u.user_id, &username, &display_name).await?;
            }
        }
        EventBody::RoomCreated(c) => {
            if let Some(room) = event.room_id {
                room_created(conn, room, event.actor_id, seq, at, c).await?;
            }
        }
        EventBody::RoomUpdated(u) => {
            sqlx::query(
                "UPDATE rooms SET name = COALESCE($2, name),
                        topic = CASE WHEN $3::text IS NULL THEN topic
                                     WHEN $3 = '' THEN NULL ELSE $3 END,
                        visibility = COALESCE($4, visibility)
                     WHERE id = $1",
            )
            .bind(event.room_id)
            .bind(&u.name)
            .bind(&u.topic)
            .bind(u.visibility.map(|v| v.as_str()))
            .execute(&mut *conn)
            .await?;
        }
        EventBody::RoomArchived(_) => {
            sqlx::query("UPDATE rooms SET archived = true WHERE id = $1")
                .bind(event.room_id)
                .execute(&mut *conn)
                .await?;
        }
        EventBody::MemberJoined(m) | EventBody::MemberInvited(m) => {
            // A mute from before the user left stays with them. Someone who joins by themselves
            // chose the room (an invitation they had waiting is taken up); someone added by
            // another did not, and waits in their requests when the add says so.
            let joined = matches!(event.body, EventBody::MemberJoined(_));
            let added_by = (!joined).then_some(event.actor_id);
            sqlx::query(
                "INSERT INTO members (room_id, user_id, role, joined_at, joined_seq, muted_until,
                                      added_by, accepted, pending)
                     VALUES ($1, $2, $3, $4, $5,
                             (SELECT until FROM mutes WHERE room_id = $1 AND user_id = $2),
                             $6, $7, $8)
                     ON CONFLICT (room_id, user_id) DO UPDATE
                     SET accepted = true, pending = false WHERE $7",
            )
            .bind(event.room_id)
            .bind(m.user_id)
            .bind(m.role.as_str())
            .bind(at)
            .bind(seq)
            .bind(added_by)
            .bind(joined)
            .bind(m.pending && !joined)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::MemberRoleChanged(m) => {
            sqlx::query("UPDATE members SET role = $3 WHERE room_id = $1 AND user_id = $2")
                .bind(event.room_id)
                .bind(m.user_id)
                .bind(m.role.as_str())
                .execute(&mut *conn)
                .await?;
        }
        EventBody::MemberLeft(m) | EventBody::MemberKicked(m) => {
            sqlx::query("DELETE FROM members WHERE room_id = $1 AND user_id = $2")
                .bind(event.room_id)
                .bind(m.user_id)
                .execute(&mut *conn)
                .await?;
        }
        EventBody::MessagePinned(p) => {
            // The limit holds here too, so that two pins racing past the gateway's check
            // cannot exceed it: the later one has no effect, in every replay alike.
            sqlx::query(
                "INSERT INTO pins (room_id, message_id, pinned_by, pinned_at, seq)
                 SELECT $1, $2, $3, $4, $5
                 WHERE (SELECT count(*) FROM pins WHERE room_id = $1) < $6
                   AND EXISTS (SELECT 1 FROM messages WHERE id = $2 AND room_id = $1 AND NOT deleted)
                 ON CONFLICT DO NOTHING",
            )
            .bind(event.room_id)
            .bind(p.message_id)
            .bind(event.actor_id)
            .bind(at)
            .bind(seq)
            .bind(MAX_PINS)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::MessageUnpinned(p) => {
            sqlx::query("DELETE FROM pins WHERE room_id = $1 AND message_id = $2")
                .bind(event.room_id)
                .bind(p.message_id)
                .execute(&mut *conn)
                .await?;
        }
        // Messages, edits, deletes, reactions and reads always come in bulk stretches
        // (see `segments`); read positions live in the unread model; files and previews
        // were applied above.
        EventBody::MessagePosted(_)
        | EventBody::MessageEdited(_)
        | EventBody::MessageDeleted(_)
        | EventBody::ReactionAdded(_)
        | EventBody::ReactionRemoved(_)
        | EventBody::ReadUpdated(_)
        | EventBody::FileUploaded(_)
        | EventBody::FileRemoved(_)
        | EventBody::PreviewAdded(_)
        | EventBody::CallEnded(_)
        | EventBody::KeyPublished(_)
        | EventBody::KeyRevoked(_)
        | EventBody::SessionStarted(_)
        | EventBody::SessionRefreshed(_)
        | EventBody::SessionEnded(_)
        | EventBody::SessionsEnded(_)
        | EventBody::PasswordChanged(_)
        | EventBody::UserBlocked(_)
        | EventBody::UserUnblocked(_)
        | EventBody::SettingsUpdated(_)
        | EventBody::RoomMuted(_)
        | EventBody::MemberAccepted(_)
        | EventBody::DeliveredUpdated(_)
        | EventBody::UserErased(_)
        | EventBody::NameReleased(_) => {}
        EventBody::MemberMuted(m) => {
            sqlx::query(
                "WITH mute AS (
                     INSERT INTO mutes (room_id, user_id, until, seq) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (room_id, user_id)
                     DO UPDATE SET until = EXCLUDED.until, seq = EXCLUDED.seq)
                 UPDATE members SET muted_until = $3 WHERE room_id = $1 AND user_id = $2",
            )
            .bind(event.room_id)
            .bind(m.user_id)
            .bind(m.until)
            .bind(seq)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::MemberUnmuted(m) => {
            sqlx::query(
                "WITH lifted AS (DELETE FROM mutes WHERE room_id = $1 AND user_id = $2)
                 UPDATE members SET muted_until = NULL WHERE room_id = $1 AND user_id = $2",
            )
            .bind(event.room_id)
            .bind(m.user_id)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::MemberBanned(m) => {
            sqlx::query(
                "WITH gone AS (DELETE FROM members WHERE room_id = $1 AND user_id = $2)
                 INSERT INTO bans (room_id, user_id, banned_by, banned_at, seq)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(event.room_id)
            .bind(m.user_id)
            .bind(event.actor_id)
            .bind(at)
            .bind(seq)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::MemberUnbanned(m) => {
            sqlx::query("DELETE FROM bans WHERE room_id = $1 AND user_id = $2")
                .bind(event.room_id)
                .bind(m.user_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

async fn room_created(
    conn: &mut PgConnection,
    room: Uuid,
    actor: Uuid,
    seq: i64,
    at: chrono::DateTime<chrono::Utc>,
    c: &RoomCreated,
) -> Result<(), sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO rooms (id, kind, name, topic, visibility, created_by, created_at, last_seq,
                            e2ee)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(room)
    .bind(c.kind.as_str())
    .bind(&c.name)
    .bind(&c.topic)
    .bind(c.visibility.as_str())
    .bind(actor)
    .bind(at)
    .bind(seq)
    .bind(c.e2ee)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(());
    }
    let users: Vec<Uuid> = c.members.iter().map(|m| m.user_id).collect();
    let roles: Vec<&str> = c.members.iter().map(|m| m.role.as_str()).collect();
    let pending: Vec<bool> = c.members.iter().map(|m| m.pending).collect();
    // The creator chose the room; everyone else was put in it by them.
    sqlx::query(
        "INSERT INTO members (room_id, user_id, role, joined_at, joined_seq, pending, added_by,
                              accepted)
         SELECT $1, u, r, $4, $5, p, NULLIF($7, u), u = $7
         FROM unnest($2::uuid[], $3::text[], $6::bool[]) AS t(u, r, p)
         ON CONFLICT DO NOTHING",
    )
    .bind(room)
    .bind(&users)
    .bind(&roles)
    .bind(at)
    .bind(seq)
    .bind(&pending)
    .bind(actor)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
