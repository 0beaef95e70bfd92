//! The history read model: users, rooms, members with roles, messages.
//!
//! [`History`] applies events (this file); [`queries`] reads them for the gateway.

pub mod queries;

use natter_schemas::Event;
use std::collections::HashMap;

use natter_schemas::event::{EventBody, RoomCreated};
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
        events: &[(u64, Event)],
    ) -> Result<(), sqlx::Error> {
        // Runs of messages (the bulk of any log) go in one multi-row insert; everything else
        // one event at a time. Each room's `last_seq` is raised once per batch.
        let mut room_last: HashMap<Uuid, i64> = HashMap::new();
        let mut i = 0;
        while i < events.len() {
            let run = events[i..]
                .iter()
                .take_while(|(_, e)| matches!(e.body, EventBody::MessagePosted(_)))
                .count();
            if run > 0 {
                messages_posted(conn, &events[i..i + run]).await?;
            } else {
                apply_one(conn, events[i].0, &events[i].1).await?;
            }
            for (seq, event) in &events[i..i + run.max(1)] {
                if let Some(room) = event.room_id {
                    let last = room_last.entry(room).or_default();
                    *last = (*last).max(seq_i64(*seq));
                }
            }
            i += run.max(1);
        }
        let (rooms, seqs): (Vec<Uuid>, Vec<i64>) = room_last.into_iter().unzip();
        sqlx::query(
            "UPDATE rooms r SET last_seq = GREATEST(r.last_seq, v.seq)
             FROM unnest($1::uuid[], $2::bigint[]) AS v(id, seq) WHERE r.id = v.id",
        )
        .bind(&rooms)
        .bind(&seqs)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Applies one event that is not a message.
async fn apply_one(conn: &mut PgConnection, seq: u64, event: &Event) -> Result<(), sqlx::Error> {
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
        EventBody::MessagePosted(_) => {
            messages_posted(conn, &[(u64::try_from(seq).unwrap_or(0), event.clone())]).await?;
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

/// Inserts a run of `message.posted` events with one statement. The primary key is derived
/// from (sender, client_msg_id): a send appended twice (a retry after the log's dedupe window)
/// leaves one message, the first, and counts as one reply.
async fn messages_posted(
    conn: &mut PgConnection,
    events: &[(u64, Event)],
) -> Result<(), sqlx::Error> {
    let n = events.len();
    let mut ids = Vec::with_capacity(n);
    let mut rooms = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut senders = Vec::with_capacity(n);
    let mut client_ids = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut roots: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut mentions = Vec::with_capacity(n);
    for (seq, event) in events {
        let (EventBody::MessagePosted(p), Some(room)) = (&event.body, event.room_id) else {
            continue;
        };
        ids.push(p.message_id);
        rooms.push(room);
        seqs.push(seq_i64(*seq));
        senders.push(event.actor_id);
        client_ids.push(p.client_msg_id.as_str());
        bodies.push(p.body.as_str());
        times.push(event.occurred_at);
        roots.push(p.thread_root_id);
        // Arrays of arrays cannot be unnested row by row: mentions travel as text.
        mentions.push(
            p.mentions
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    let inserted: Vec<Option<Uuid>> = sqlx::query_scalar(
        "INSERT INTO messages (id, room_id, seq, sender_id, client_msg_id, body, created_at,
                               thread_root_id, mentions)
         SELECT id, room_id, seq, sender_id, client_msg_id, body, created_at, thread_root_id,
                COALESCE(string_to_array(NULLIF(mentions, ''), ',')::uuid[], '{}')
         FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::uuid[], $9::text[])
              AS t(id, room_id, seq, sender_id, client_msg_id, body, created_at, thread_root_id, mentions)
         ON CONFLICT DO NOTHING
         RETURNING thread_root_id",
    )
    .bind(&ids)
    .bind(&rooms)
    .bind(&seqs)
    .bind(&senders)
    .bind(&client_ids)
    .bind(&bodies)
    .bind(&times)
    .bind(&roots)
    .bind(&mentions)
    .fetch_all(&mut *conn)
    .await?;
    let mut replies: HashMap<Uuid, i32> = HashMap::new();
    for root in inserted.into_iter().flatten() {
        *replies.entry(root).or_default() += 1;
    }
    if !replies.is_empty() {
        let (roots, counts): (Vec<Uuid>, Vec<i32>) = replies.into_iter().unzip();
        sqlx::query(
            "UPDATE messages m SET reply_count = m.reply_count + v.n
             FROM unnest($1::uuid[], $2::int[]) AS v(id, n) WHERE m.id = v.id",
        )
        .bind(&roots)
        .bind(&counts)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
