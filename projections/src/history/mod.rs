//! The history read model: users, rooms, members with roles, messages.
//!
//! [`History`] applies events (this file); [`queries`] reads them for the gateway.

pub mod queries;

use natter_schemas::Event;
use natter_schemas::event::{EventBody, MessagePosted, RoomCreated};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Projection, seq_i64};

/// The history projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct History;

impl History {
    pub const NAME: &'static str = "history";
}

impl Projection for History {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        seq: u64,
        event: &Event,
    ) -> Result<(), sqlx::Error> {
        let seq = seq_i64(seq);
        let at = event.occurred_at;
        match &event.body {
            EventBody::UserRegistered(u) => {
                sqlx::query(
                    "INSERT INTO users (id, username, display_name, password_hash, created_at, seq)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(u.user_id)
                .bind(&u.username)
                .bind(&u.display_name)
                .bind(&u.password_hash)
                .bind(at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            EventBody::UserProfileUpdated(u) => {
                sqlx::query(
                    "UPDATE users SET display_name = COALESCE($2, display_name),
                        status_text = CASE WHEN $3::text IS NULL THEN status_text
                                           WHEN $3 = '' THEN NULL ELSE $3 END
                     WHERE id = $1",
                )
                .bind(u.user_id)
                .bind(&u.display_name)
                .bind(&u.status_text)
                .execute(&mut *conn)
                .await?;
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
                sqlx::query(
                    "INSERT INTO members (room_id, user_id, role, joined_at, joined_seq)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(event.room_id)
                .bind(m.user_id)
                .bind(m.role.as_str())
                .bind(at)
                .bind(seq)
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
            EventBody::MessagePosted(p) => {
                if let Some(room) = event.room_id {
                    message_posted(conn, room, event.actor_id, seq, at, p).await?;
                }
            }
        }
        if let Some(room) = event.room_id {
            sqlx::query("UPDATE rooms SET last_seq = GREATEST(last_seq, $2) WHERE id = $1")
                .bind(room)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
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
        "INSERT INTO rooms (id, kind, name, topic, visibility, created_by, created_at, last_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(room)
    .bind(c.kind.as_str())
    .bind(&c.name)
    .bind(&c.topic)
    .bind(c.visibility.as_str())
    .bind(actor)
    .bind(at)
    .bind(seq)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(());
    }
    let users: Vec<Uuid> = c.members.iter().map(|m| m.user_id).collect();
    let roles: Vec<&str> = c.members.iter().map(|m| m.role.as_str()).collect();
    sqlx::query(
        "INSERT INTO members (room_id, user_id, role, joined_at, joined_seq)
         SELECT $1, u, r, $4, $5 FROM unnest($2::uuid[], $3::text[]) AS t(u, r)
         ON CONFLICT DO NOTHING",
    )
    .bind(room)
    .bind(&users)
    .bind(&roles)
    .bind(at)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn message_posted(
    conn: &mut PgConnection,
    room: Uuid,
    sender: Uuid,
    seq: i64,
    at: chrono::DateTime<chrono::Utc>,
    p: &MessagePosted,
) -> Result<(), sqlx::Error> {
    // The primary key is derived from (sender, client_msg_id): a send appended twice (a retry
    // after the log's dedupe window) leaves one message, the first.
    let inserted = sqlx::query(
        "INSERT INTO messages (id, room_id, seq, sender_id, client_msg_id, body, created_at,
                               thread_root_id, mentions)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(p.message_id)
    .bind(room)
    .bind(seq)
    .bind(sender)
    .bind(&p.client_msg_id)
    .bind(&p.body)
    .bind(at)
    .bind(p.thread_root_id)
    .bind(&p.mentions)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if let (1, Some(root)) = (inserted, p.thread_root_id) {
        sqlx::query("UPDATE messages SET reply_count = reply_count + 1 WHERE id = $1")
            .bind(root)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
