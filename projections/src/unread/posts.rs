//! A run of posts in the unread model: four statements however many posts and rooms.

use std::collections::{HashMap, HashSet};

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{add_mentions, move_positions};
use crate::seq_i64;

/// A run of `message.posted`: each new message gets the next ordinal of its room (a message
/// already counted, sent again after the log's dedupe window, is not counted twice), the room's
/// count grows, each sender's position moves to their newest message, and mentions of members
/// who have not read that far become unread mentions.
pub(super) async fn messages_posted(
    conn: &mut PgConnection,
    events: &[(u64, &Event)],
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    let posted: Vec<(i64, Uuid, Uuid, &Event, &[Uuid])> = events
        .iter()
        .filter_map(|(seq, e)| match (&e.body, e.room_id) {
            (EventBody::MessagePosted(p), Some(room)) => {
                Some((seq_i64(*seq), room, p.message_id, *e, p.mentions.as_slice()))
            }
            _ => None,
        })
        .collect();
    let ids: Vec<Uuid> = posted.iter().map(|p| p.2).collect();
    let rooms: Vec<Uuid> = posted.iter().map(|p| p.1).collect();
    let senders: Vec<Uuid> = posted.iter().map(|p| p.3.actor_id).collect();
    let checked: Vec<Option<i64>> = posted
        .iter()
        .map(|p| crate::losses::checked_at(p.3))
        .collect();
    let seqs: Vec<i64> = posted.iter().map(|p| p.0).collect();
    let mut locked = rooms.clone();
    locked.sort_unstable();
    locked.dedup();
    // One statement: each room's count so far (its row locked, in a fixed order), and the
    // posts not to count: counted already, or void (their sender lost the right to post
    // after their check).
    let void = crate::losses::void_sql(
        "unread_posting_losses",
        "v.room",
        "v.sender",
        "v.checked",
        "v.seq",
    );
    // Rows: (a counted message, a room and its count, a void post's seq).
    let rows: Vec<(Option<Uuid>, Option<Uuid>, Option<i64>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH counts AS (
                 INSERT INTO unread_rooms (room_id) SELECT unnest($6::uuid[])
                 ON CONFLICT (room_id) DO UPDATE SET messages = unread_rooms.messages
                 RETURNING room_id, messages)
             SELECT NULL::uuid, room_id, messages FROM counts
             UNION ALL
             SELECT message_id, NULL, NULL FROM unread_messages WHERE message_id = ANY($1)
             UNION ALL
             SELECT NULL, NULL, v.seq
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::bigint[])
                  AS v(id, room, sender, checked, seq)
             WHERE {void}"
        )))
        .bind(&ids)
        .bind(&rooms)
        .bind(&senders)
        .bind(&checked)
        .bind(&seqs)
        .bind(&locked)
        .fetch_all(&mut *conn)
        .await?;
    let mut seen: HashSet<Uuid> = HashSet::new();
    // By seq: a void post and a later retry of it (same id) that stands may share a run.
    let mut void: HashSet<i64> = HashSet::new();
    let mut counts: Vec<(Uuid, i64)> = Vec::new();
    for row in rows {
        match row {
            (Some(id), _, _) => {
                seen.insert(id);
            }
            (None, Some(room), Some(n)) => counts.push((room, n)),
            (None, None, Some(seq)) => {
                void.insert(seq);
            }
            _ => {}
        }
    }
    // Each room's newest post of the run: its `last_seq`, raised with the counts below.
    let heads = crate::room_heads(
        posted
            .iter()
            .map(|p| (u64::try_from(p.0).unwrap_or(0), p.3)),
    );
    let fresh: Vec<_> = posted
        .into_iter()
        .filter(|p| !void.contains(&p.0) && seen.insert(p.2))
        .collect();
    if fresh.is_empty() {
        return Ok(HashMap::new());
    }
    let mut counts: HashMap<Uuid, i64> = counts.into_iter().collect();

    let n = fresh.len();
    let (mut m_rooms, mut m_seqs, mut m_ords, mut m_ids) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    // Each sender's newest message per room: (room, sender) -> (seq, ordinal, at).
    let mut senders: HashMap<(Uuid, Uuid), (i64, i64, chrono::DateTime<chrono::Utc>)> =
        HashMap::new();
    let (mut x_users, mut x_rooms, mut x_seqs, mut x_ids) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (seq, room, id, event, mentions) in &fresh {
        let count = counts.entry(*room).or_default();
        *count += 1;
        m_rooms.push(*room);
        m_seqs.push(*seq);
        m_ords.push(*count);
        m_ids.push(*id);
        senders.insert((*room, event.actor_id), (*seq, *count, event.occurred_at));
        for user in mentions.iter().filter(|u| **u != event.actor_id) {
            x_users.push(*user);
            x_rooms.push(*room);
            x_seqs.push(*seq);
            x_ids.push(*id);
        }
    }
    let (c_rooms, c_counts): (Vec<Uuid>, Vec<i64>) = counts.into_iter().unzip();
    let c_heads: Vec<i64> = c_rooms
        .iter()
        .map(|room| heads.get(room).copied().unwrap_or(0))
        .collect();
    sqlx::query(
        "WITH added AS (
             INSERT INTO unread_messages (room_id, seq, ordinal, message_id)
             SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::uuid[])
             ON CONFLICT DO NOTHING)
         UPDATE unread_rooms r SET messages = v.n, last_seq = GREATEST(r.last_seq, v.head)
         FROM unnest($5::uuid[], $6::bigint[], $7::bigint[]) AS v(id, n, head)
         WHERE r.room_id = v.id",
    )
    .bind(&m_rooms)
    .bind(&m_seqs)
    .bind(&m_ords)
    .bind(&m_ids)
    .bind(&c_rooms)
    .bind(&c_counts)
    .bind(&c_heads)
    .execute(&mut *conn)
    .await?;
    // Mentions first: a mentioned member who posts later in this run reads past them below.
    if !x_users.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(add_mentions(
            "SELECT v.u, v.r, v.s, v.m
             FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[]) AS v(u, r, s, m)
             JOIN read_positions p ON p.room_id = v.r AND p.user_id = v.u AND p.last_read_seq < v.s",
        )))
        .bind(&x_users)
        .bind(&x_rooms)
        .bind(&x_seqs)
        .bind(&x_ids)
        .execute(&mut *conn)
        .await?;
    }
    let k = senders.len();
    let (mut s_rooms, mut s_users, mut s_seqs, mut s_ords, mut s_ats) = (
        Vec::with_capacity(k),
        Vec::with_capacity(k),
        Vec::with_capacity(k),
        Vec::with_capacity(k),
        Vec::with_capacity(k),
    );
    for ((room, user), (seq, ord, at)) in senders {
        s_rooms.push(room);
        s_users.push(user);
        s_seqs.push(seq);
        s_ords.push(ord);
        s_ats.push(at);
    }
    sqlx::query(sqlx::AssertSqlSafe(move_positions(
        "last_read_seq = v.s, read_ordinal = v.o, read_at = v.at",
        "unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::timestamptz[])
              AS v(r, u, s, o, at)",
    )))
    .bind(&s_rooms)
    .bind(&s_users)
    .bind(&s_seqs)
    .bind(&s_ords)
    .bind(&s_ats)
    .execute(&mut *conn)
    .await?;
    Ok(heads)
}
