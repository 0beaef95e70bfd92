//! The unread read model: each member's read position, and the counters that make unread and
//! mention counts a subtraction instead of a count over the room's messages.
//!
//! - `unread_rooms.messages` counts a room's messages; each message keeps its ordinal in
//!   `unread_messages`.
//! - A member's `read_ordinal` is the room's count as of their read position, so
//!   `unread = messages - read_ordinal - (deleted messages after the position)`. A member's own
//!   messages are never after their position: posting moves it.
//! - Mentions are rows in `unread_mentions` while unread; moving the position past them
//!   removes them. Each member's `mentions` counter moves with every insert and delete there,
//!   in the same statement, so reading it is free.
//!
//! [`queries`] reads it for the gateway.

mod posts;
pub mod queries;

use std::collections::HashMap;

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Projection, Step, raise_room_heads, seq_i64, steps};

/// The unread projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unread;

impl Unread {
    pub const NAME: &'static str = "unread";
}

impl Projection for Unread {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn deferred_indexes(&self) -> &'static [&'static str] {
        &["read_positions_by_user"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "unread_rooms",
            "unread_messages",
            "read_positions",
            "unread_mentions",
            "unread_posting_losses",
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[(u64, Event)],
    ) -> Result<(), sqlx::Error> {
        let mut raised = HashMap::new();
        for step in steps(events, ignored, bulk) {
            match step {
                Step::Bulk(run) => {
                    raised.extend(posts::messages_posted(conn, &run).await?);
                    reads(conn, &run).await?;
                }
                Step::One(seq, event) => {
                    apply_one(conn, seq, event).await?;
                    crate::losses::record(conn, "unread_posting_losses", seq, event).await?;
                }
            }
        }
        raise_room_heads(conn, "unread_rooms", "room_id", events, &raised).await
    }
}

async fn apply_one(conn: &mut PgConnection, seq: u64, event: &Event) -> Result<(), sqlx::Error> {
    let seq = seq_i64(seq);
    let at = event.occurred_at;
    // An erased user leaves every room.
    if let EventBody::UserErased(e) = &event.body {
        sqlx::query(
            "WITH x AS (DELETE FROM unread_mentions WHERE user_id = $1)
             DELETE FROM read_positions WHERE user_id = $1",
        )
        .bind(e.user_id)
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    let Some(room) = event.room_id else {
        return Ok(());
    };
    match &event.body {
        EventBody::RoomCreated(c) => {
            sqlx::query(
                "INSERT INTO unread_rooms (room_id, messages, last_seq) VALUES ($1, 0, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(room)
            .bind(seq)
            .execute(&mut *conn)
            .await?;
            let users: Vec<Uuid> = c.members.iter().map(|m| m.user_id).collect();
            sqlx::query(
                "INSERT INTO read_positions (room_id, user_id, last_read_seq, read_ordinal, read_at)
                 SELECT $1, u, $3, 0, $4 FROM unnest($2::uuid[]) AS u ON CONFLICT DO NOTHING",
            )
            .bind(room)
            .bind(&users)
            .bind(seq)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        // A new member starts with everything before their join read.
        EventBody::MemberJoined(m) | EventBody::MemberInvited(m) => {
            sqlx::query(
                "INSERT INTO read_positions (room_id, user_id, last_read_seq, read_ordinal, read_at)
                 SELECT $1, $2, $3, COALESCE((SELECT messages FROM unread_rooms WHERE room_id = $1), 0), $4
                 ON CONFLICT DO NOTHING",
            )
            .bind(room)
            .bind(m.user_id)
            .bind(seq)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::MemberLeft(m) | EventBody::MemberKicked(m) | EventBody::MemberBanned(m) => {
            sqlx::query(
                "WITH x AS (DELETE FROM unread_mentions WHERE user_id = $2 AND room_id = $1)
                 DELETE FROM read_positions WHERE room_id = $1 AND user_id = $2",
            )
            .bind(room)
            .bind(m.user_id)
            .execute(&mut *conn)
            .await?;
        }
        // A read applied alone (one naming a seq at or past its own): the same statement as
        // a stretch's reads.
        EventBody::ReadUpdated(_) => reads(conn, &[(0, event)]).await?,
        // Never past this event itself: what a client claims beyond it is not delivered yet.
        // A member named twice counts once, at their furthest (an UPDATE meeting two rows
        // for one target would take either).
        EventBody::DeliveredUpdated(d) => {
            let users: Vec<Uuid> = d.positions.iter().map(|p| p.user_id).collect();
            let seqs: Vec<i64> = d.positions.iter().map(|p| seq_i64(p.seq)).collect();
            sqlx::query(
                "UPDATE read_positions p SET delivered_seq = GREATEST(p.delivered_seq, LEAST(t.s, $4))
                 FROM (SELECT u, max(s) AS s FROM unnest($2::uuid[], $3::bigint[]) AS x(u, s)
                       GROUP BY u) AS t
                 WHERE p.room_id = $1 AND p.user_id = t.u",
            )
            .bind(room)
            .bind(&users)
            .bind(&seqs)
            .bind(seq)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::MessageEdited(e) => {
            // The mentions are replaced; only members who have not read the message yet get
            // an unread mention.
            sqlx::query(sqlx::AssertSqlSafe(drop_mentions("message_id = $1")))
                .bind(e.message_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(add_mentions(
                "SELECT u, um.room_id, um.seq, um.message_id
                 FROM unread_messages um
                 CROSS JOIN unnest($3::uuid[]) AS u
                 JOIN read_positions p ON p.room_id = um.room_id AND p.user_id = u
                 WHERE um.message_id = $1 AND um.room_id = $2 AND NOT um.deleted
                   AND p.last_read_seq < um.seq",
            )))
            .bind(e.message_id)
            .bind(room)
            .bind(&e.mentions)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::MessageDeleted(d) => {
            sqlx::query(sqlx::AssertSqlSafe(drop_mentions("message_id = $1")))
                .bind(d.message_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "UPDATE unread_messages SET deleted = true WHERE message_id = $1 AND room_id = $2",
            )
            .bind(d.message_id)
            .bind(room)
            .execute(&mut *conn)
            .await?;
        }
        // Messages always come in bulk stretches (see `bulk`); the rest changes nothing here.
        _ => {}
    }
    Ok(())
}

/// Events that change nothing here.
fn ignored(event: &Event) -> bool {
    event.body.posting_loss().is_none()
        && !matches!(
            event.body,
            EventBody::RoomCreated(_)
                | EventBody::MemberJoined(_)
                | EventBody::MemberInvited(_)
                | EventBody::MemberLeft(_)
                | EventBody::MemberKicked(_)
                | EventBody::MemberBanned(_)
                | EventBody::ReadUpdated(_)
                | EventBody::DeliveredUpdated(_)
                | EventBody::UserErased(_)
                | EventBody::MessageEdited(_)
                | EventBody::MessageDeleted(_)
                | EventBody::MessagePosted(_)
        )
}

/// Messages and reads go in bulk: a stretch of them is applied as its messages, then its reads.
/// That equals applying them one by one because a read names a seq before its own (one that
/// does not is applied alone), so a message after it in the log is after its position either
/// way: its count, its mentions and its sender's position come out the same. Edits and deletes
/// (whose mentions depend on positions at their moment) and membership go one at a time.
fn bulk(seq: u64, event: &Event) -> bool {
    match &event.body {
        EventBody::MessagePosted(_) => true,
        EventBody::ReadUpdated(r) => r.seq < seq,
        _ => false,
    }
}

/// Reads (a bulk stretch's, or one alone): each moves a member's position forward to its seq
/// (never back), with the room's count as of it, and drops the mentions it passes. Per member
/// and room only the first read naming the furthest seq counts (it decides the position, the
/// ordinal and the time): one statement for all, then one for the mentions passed.
async fn reads(conn: &mut PgConnection, events: &[(u64, &Event)]) -> Result<(), sqlx::Error> {
    let mut furthest: HashMap<(Uuid, Uuid), (i64, chrono::DateTime<chrono::Utc>)> = HashMap::new();
    for (_, event) in events {
        if let (EventBody::ReadUpdated(r), Some(room)) = (&event.body, event.room_id) {
            let seq = seq_i64(r.seq);
            let entry = furthest
                .entry((room, event.actor_id))
                .or_insert((seq, event.occurred_at));
            if seq > entry.0 {
                *entry = (seq, event.occurred_at);
            }
        }
    }
    if furthest.is_empty() {
        return Ok(());
    }
    let (mut rooms, mut users, mut seqs, mut ats) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((room, user), (seq, at)) in furthest {
        rooms.push(room);
        users.push(user);
        seqs.push(seq);
        ats.push(at);
    }
    sqlx::query(sqlx::AssertSqlSafe(move_positions(
        "last_read_seq = v.s, read_at = v.at,
         read_ordinal = GREATEST(p.read_ordinal, COALESCE(
             (SELECT ordinal FROM unread_messages
              WHERE room_id = v.r AND seq <= v.s ORDER BY seq DESC LIMIT 1), 0))",
        "unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[]) AS v(r, u, s, at)",
    )))
    .bind(&rooms)
    .bind(&users)
    .bind(&seqs)
    .bind(&ats)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Moves members' positions forward (`set`, with the positions in `from` as `v.r`, `v.u`,
/// `v.s`; never back), drops the unread mentions each moved position passes and lowers their
/// counters by as many, in one statement. (The counter is lowered in the same update: a row
/// is updated once per statement, and the count reads the mentions as they were before.)
pub(super) fn move_positions(set: &str, from: &str) -> String {
    format!(
        "WITH moved AS (
             UPDATE read_positions p SET {set},
                    mentions = p.mentions - (SELECT count(*) FROM unread_mentions x
                                             WHERE x.room_id = p.room_id AND x.user_id = p.user_id
                                               AND x.seq <= v.s)
             FROM {from}
             WHERE p.room_id = v.r AND p.user_id = v.u AND p.last_read_seq < v.s
             RETURNING p.room_id, p.user_id, p.last_read_seq)
         DELETE FROM unread_mentions x USING moved m
         WHERE x.room_id = m.room_id AND x.user_id = m.user_id AND x.seq <= m.last_read_seq"
    )
}

/// Deletes the `unread_mentions` rows matching `condition` and lowers their members'
/// `mentions` counters by as many, in one statement.
fn drop_mentions(condition: &str) -> String {
    format!(
        "WITH gone AS (DELETE FROM unread_mentions WHERE {condition} RETURNING user_id, room_id),
              n AS (SELECT user_id, room_id, count(*) AS n FROM gone GROUP BY user_id, room_id)
         UPDATE read_positions p SET mentions = p.mentions - n.n
         FROM n WHERE p.user_id = n.user_id AND p.room_id = n.room_id"
    )
}

/// Inserts the `(user_id, room_id, seq, message_id)` rows `select` yields into
/// `unread_mentions` (those not there yet) and raises their members' counters by as many.
pub(super) fn add_mentions(select: &str) -> String {
    format!(
        "WITH added AS (INSERT INTO unread_mentions (user_id, room_id, seq, message_id) {select}
                        ON CONFLICT DO NOTHING RETURNING user_id, room_id),
              n AS (SELECT user_id, room_id, count(*) AS n FROM added GROUP BY user_id, room_id)
         UPDATE read_positions p SET mentions = p.mentions + n.n
         FROM n WHERE p.user_id = n.user_id AND p.room_id = n.room_id"
    )
}
