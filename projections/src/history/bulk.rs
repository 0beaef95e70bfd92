//! The bulk of a log, a stretch at a time: messages, edits, deletes and reactions in a few
//! set-based statements per stretch. One job, kept in one file (past 400 lines) because the
//! four statements share the stretch's segmentation and must change together.

use natter_schemas::Event;
use std::collections::HashMap;

use natter_schemas::event::EventBody;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::seq_i64;

/// A stretch of a batch: events applied together, or one applied alone.
pub(super) enum Segment<'a> {
    Bulk(&'a [(u64, Event)]),
    One(u64, &'a Event),
}

/// Whether an event can be part of a bulk stretch.
fn bulk(event: &Event) -> bool {
    matches!(
        event.body,
        EventBody::MessagePosted(_)
            | EventBody::MessageEdited(_)
            | EventBody::MessageDeleted(_)
            | EventBody::ReactionAdded(_)
            | EventBody::ReactionRemoved(_)
            | EventBody::ReadUpdated(_)
    )
}

/// The message an edit, delete or reaction refers to.
fn referenced(event: &Event) -> Option<Uuid> {
    match &event.body {
        EventBody::MessageEdited(e) => Some(e.message_id),
        EventBody::MessageDeleted(d) => Some(d.message_id),
        EventBody::ReactionAdded(r) | EventBody::ReactionRemoved(r) => Some(r.message_id),
        _ => None,
    }
}

/// Cuts a batch into bulk stretches and single events, in log order. A bulk stretch is applied
/// as: its posts, then its reactions, then its edits, then its deletes. That equals applying
/// its events one by one because
/// - a post does not depend on anything else in the stretch, and nothing in it refers to a
///   message posted after it (the stretch ends before such a post);
/// - reactions and edits of a message that the stretch deletes end up gone either way (a
///   delete removes them; after the delete they would have had no effect);
/// - reactions and edits touch different things, and each is reduced per key in log order.
pub(super) fn segments(events: &[(u64, Event)]) -> impl Iterator<Item = Segment<'_>> {
    let mut rest = events;
    std::iter::from_fn(move || {
        let (seq, first) = rest.first()?;
        if !bulk(first) {
            rest = &rest[1..];
            return Some(Segment::One(*seq, first));
        }
        let mut referenced_so_far = std::collections::HashSet::new();
        let mut n = 0;
        for (_, event) in rest {
            if !bulk(event) {
                break;
            }
            if let EventBody::MessagePosted(p) = &event.body
                && referenced_so_far.contains(&p.message_id)
            {
                break;
            }
            if let Some(id) = referenced(event) {
                referenced_so_far.insert(id);
            }
            n += 1;
        }
        let (stretch, after) = rest.split_at(n);
        rest = after;
        Some(Segment::Bulk(stretch))
    })
}

/// Applies a bulk stretch (see [`segments`]); returns the rooms' `last_seq` it raised (to
/// their newest post in the stretch).
pub(super) async fn apply_bulk(
    conn: &mut PgConnection,
    events: &[(u64, Event)],
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    let posts: Vec<(u64, &Event)> = events
        .iter()
        .filter(|(_, e)| matches!(e.body, EventBody::MessagePosted(_)))
        .map(|(seq, e)| (*seq, e))
        .collect();
    let mut raised = HashMap::new();
    if !posts.is_empty() {
        raised = crate::room_heads(posts.iter().copied());
        messages_posted(conn, &posts, &raised).await?;
    }
    reactions(conn, events).await?;
    edits(conn, events).await?;
    deletes(conn, events).await?;
    Ok(raised)
}

/// The reactions of a stretch, reduced per (message, emoji, user) in log order: a key whose
/// last change is a removal is deleted; one whose last change is an addition gets the row of
/// the first addition after its last removal (the row is replaced), or of its first addition
/// when nothing removed it here (an existing row stays as it is).
async fn reactions(conn: &mut PgConnection, events: &[(u64, Event)]) -> Result<(), sqlx::Error> {
    /// (message, emoji, user) -> whether this stretch removed it, and the addition that counts
    /// (its seq and room).
    type Reduced<'e> = HashMap<(Uuid, &'e str, Uuid), (bool, Option<(i64, Option<Uuid>)>)>;
    let mut keys: Reduced = HashMap::new();
    for (seq, event) in events {
        match &event.body {
            EventBody::ReactionAdded(r) => {
                let entry = keys
                    .entry((r.message_id, r.emoji.as_str(), event.actor_id))
                    .or_insert((false, None));
                if entry.1.is_none() {
                    entry.1 = Some((seq_i64(*seq), event.room_id));
                }
            }
            EventBody::ReactionRemoved(r) => {
                keys.insert(
                    (r.message_id, r.emoji.as_str(), event.actor_id),
                    (true, None),
                );
            }
            _ => {}
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    let (mut gone_m, mut gone_e, mut gone_u) = (Vec::new(), Vec::new(), Vec::new());
    let (mut add_m, mut add_e, mut add_u, mut add_s, mut add_r) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((message, emoji, user), (removed, add)) in keys {
        if removed {
            gone_m.push(message);
            gone_e.push(emoji);
            gone_u.push(user);
        }
        if let Some((seq, room)) = add {
            add_m.push(message);
            add_e.push(emoji);
            add_u.push(user);
            add_s.push(seq);
            add_r.push(room);
        }
    }
    if !gone_m.is_empty() {
        sqlx::query(
            "DELETE FROM reactions r USING unnest($1::uuid[], $2::text[], $3::uuid[]) AS k(m, e, u)
             WHERE r.message_id = k.m AND r.emoji = k.e AND r.user_id = k.u",
        )
        .bind(&gone_m)
        .bind(&gone_e)
        .bind(&gone_u)
        .execute(&mut *conn)
        .await?;
    }
    if !add_m.is_empty() {
        sqlx::query(
            "INSERT INTO reactions (message_id, emoji, user_id, seq)
             SELECT k.m, k.e, k.u, k.s
             FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::uuid[])
                  AS k(m, e, u, s, r)
             WHERE EXISTS (SELECT 1 FROM messages WHERE id = k.m AND room_id = k.r AND NOT deleted)
             ON CONFLICT DO NOTHING",
        )
        .bind(&add_m)
        .bind(&add_e)
        .bind(&add_u)
        .bind(&add_s)
        .bind(&add_r)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The edits of a stretch: each message's chain of edits in log order, every edit keeping the
/// body it replaced (the first, the stored body); the message gets the last.
async fn edits(conn: &mut PgConnection, events: &[(u64, Event)]) -> Result<(), sqlx::Error> {
    // An edit after the message's delete had no effect (in particular on `edited_at`, which a
    // delete keeps): leave those out, since deletes are applied after edits.
    let mut deleted = std::collections::HashSet::new();
    let mut edits: Vec<(u64, &Event, &natter_schemas::event::MessageEdited)> = Vec::new();
    for (seq, e) in events {
        match &e.body {
            EventBody::MessageDeleted(d) => {
                deleted.insert(d.message_id);
            }
            EventBody::MessageEdited(m) if !deleted.contains(&m.message_id) => {
                edits.push((*seq, e, m));
            }
            _ => {}
        }
    }
    if edits.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = edits.iter().map(|(_, _, m)| m.message_id).collect();
    let current: Vec<(Uuid, Uuid, Option<String>)> =
        sqlx::query_as("SELECT id, room_id, body FROM messages WHERE id = ANY($1) AND NOT deleted")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
    let mut bodies: HashMap<Uuid, (Uuid, String)> = current
        .into_iter()
        .map(|(id, room, body)| (id, (room, body.unwrap_or_default())))
        .collect();
    let (mut e_ids, mut e_seqs, mut e_before, mut e_at) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // message -> (body, edited_at, mentions as text) after its last edit
    let mut last: HashMap<Uuid, (&str, chrono::DateTime<chrono::Utc>, String)> = HashMap::new();
    for (seq, event, edit) in edits {
        let Some((room, body)) = bodies.get_mut(&edit.message_id) else {
            continue;
        };
        if Some(*room) != event.room_id {
            continue;
        }
        e_ids.push(edit.message_id);
        e_seqs.push(seq_i64(seq));
        e_before.push(std::mem::replace(body, edit.body.clone()));
        e_at.push(event.occurred_at);
        last.insert(
            edit.message_id,
            (
                edit.body.as_str(),
                event.occurred_at,
                edit.mentions
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        );
    }
    if e_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO message_edits (message_id, seq, body_before, edited_at)
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[])
         ON CONFLICT DO NOTHING",
    )
    .bind(&e_ids)
    .bind(&e_seqs)
    .bind(&e_before)
    .bind(&e_at)
    .execute(&mut *conn)
    .await?;
    let (mut m_ids, mut m_bodies, mut m_at, mut m_mentions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, (body, at, mentions)) in last {
        m_ids.push(id);
        m_bodies.push(body);
        m_at.push(at);
        m_mentions.push(mentions);
    }
    sqlx::query(
        "UPDATE messages m SET body = v.body, edited_at = v.at,
                mentions = COALESCE(string_to_array(NULLIF(v.mentions, ''), ',')::uuid[], '{}')
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) AS v(id, body, at, mentions)
         WHERE m.id = v.id",
    )
    .bind(&m_ids)
    .bind(&m_bodies)
    .bind(&m_at)
    .bind(&m_mentions)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The deletes of a stretch, for all its messages at once. A deleted message keeps its place
/// (and seq) with no body; its edit history, reactions and pin go, and a reply no longer counts
/// in its thread.
async fn deletes(conn: &mut PgConnection, events: &[(u64, Event)]) -> Result<(), sqlx::Error> {
    let (mut ids, mut rooms) = (Vec::new(), Vec::new());
    for (_, event) in events {
        if let (EventBody::MessageDeleted(d), Some(room)) = (&event.body, event.room_id) {
            ids.push(d.message_id);
            rooms.push(room);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let deleted: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(
        "UPDATE messages m SET deleted = true, body = NULL, mentions = '{}'
         FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS v(id, room)
         WHERE m.id = v.id AND m.room_id = v.room AND NOT m.deleted
         RETURNING m.id, m.thread_root_id",
    )
    .bind(&ids)
    .bind(&rooms)
    .fetch_all(&mut *conn)
    .await?;
    if deleted.is_empty() {
        return Ok(());
    }
    let gone: Vec<Uuid> = deleted.iter().map(|(id, _)| *id).collect();
    sqlx::query(
        "WITH e AS (DELETE FROM message_edits WHERE message_id = ANY($1)),
              r AS (DELETE FROM reactions WHERE message_id = ANY($1))
         DELETE FROM pins WHERE message_id = ANY($1)",
    )
    .bind(&gone)
    .execute(&mut *conn)
    .await?;
    let mut replies: HashMap<Uuid, i32> = HashMap::new();
    for root in deleted.iter().filter_map(|(_, root)| *root) {
        *replies.entry(root).or_default() += 1;
    }
    if !replies.is_empty() {
        let (roots, counts): (Vec<Uuid>, Vec<i32>) = replies.into_iter().unzip();
        sqlx::query(
            "UPDATE messages m SET reply_count = greatest(m.reply_count - v.n, 0)
             FROM unnest($1::uuid[], $2::int[]) AS v(id, n) WHERE m.id = v.id",
        )
        .bind(&roots)
        .bind(&counts)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Most thread participants kept on a thread root.
const MAX_THREAD_PARTICIPANTS: i32 = 20;

/// Inserts a run of `message.posted` events with one statement, which also raises the rooms'
/// `last_seq` to `heads`. The primary key is derived
/// from (sender, client_msg_id): a send appended twice (a retry after the log's dedupe window)
/// leaves one message, the first, and counts as one reply.
async fn messages_posted(
    conn: &mut PgConnection,
    events: &[(u64, &Event)],
    heads: &HashMap<Uuid, i64>,
) -> Result<(), sqlx::Error> {
    let (head_rooms, head_seqs): (Vec<Uuid>, Vec<i64>) =
        heads.iter().map(|(room, seq)| (*room, *seq)).unzip();
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
    let mut checked = Vec::with_capacity(n);
    let mut attachments = Vec::with_capacity(n);
    let mut attaching = Vec::new();
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
        checked.push(crate::losses::checked_at(event));
        attachments.push(super::files::attachments_column(p));
        if !p.attachments.is_empty() {
            attaching.push(p.message_id);
        }
        // Arrays of arrays cannot be unnested row by row: mentions travel as text.
        mentions.push(
            p.mentions
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    // Void posts (their sender lost the right to post after their check) are left out.
    let void = crate::losses::void_sql(
        "history_posting_losses",
        "t.room_id",
        "t.sender_id",
        "t.checked",
        "t.seq",
    );
    let inserted: Vec<(Option<Uuid>, Uuid, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH heads AS (
                 UPDATE rooms r SET last_seq = GREATEST(r.last_seq, h.seq)
                 FROM unnest($11::uuid[], $12::bigint[]) AS h(id, seq) WHERE r.id = h.id)
             INSERT INTO messages (id, room_id, seq, sender_id, client_msg_id, body, created_at,
                                   thread_root_id, mentions, attachments)
             SELECT id, room_id, seq, sender_id, client_msg_id, body, created_at, thread_root_id,
                    COALESCE(string_to_array(NULLIF(mentions, ''), ',')::uuid[], '{{}}'),
                    NULLIF(attachments, '')::jsonb
             FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::text[],
                         $7::timestamptz[], $8::uuid[], $9::text[], $10::bigint[], $13::text[])
                  AS t(id, room_id, seq, sender_id, client_msg_id, body, created_at, thread_root_id,
                       mentions, checked, attachments)
             WHERE NOT {void}
             ON CONFLICT DO NOTHING
             RETURNING thread_root_id, sender_id, created_at"
        )))
        .bind(&ids)
        .bind(&rooms)
        .bind(&seqs)
        .bind(&senders)
        .bind(&client_ids)
        .bind(&bodies)
        .bind(&times)
        .bind(&roots)
        .bind(&mentions)
        .bind(&checked)
        .bind(&head_rooms)
        .bind(&head_seqs)
        .bind(&attachments)
        .fetch_all(&mut *conn)
        .await?;
    if !attaching.is_empty() {
        super::files::mark_attached(conn, &attaching).await?;
    }
    // Thread summaries: per root, the replies of this batch (in log order).
    let mut threads: HashMap<Uuid, (i32, chrono::DateTime<chrono::Utc>, Vec<Uuid>)> =
        HashMap::new();
    for (root, sender, at) in inserted {
        let Some(root) = root else { continue };
        let entry = threads.entry(root).or_insert((0, at, Vec::new()));
        entry.0 += 1;
        entry.1 = entry.1.max(at);
        if !entry.2.contains(&sender) {
            entry.2.push(sender);
        }
    }
    if threads.is_empty() {
        return Ok(());
    }
    let mut roots = Vec::with_capacity(threads.len());
    let mut counts = Vec::with_capacity(threads.len());
    let mut last = Vec::with_capacity(threads.len());
    let mut senders = Vec::with_capacity(threads.len());
    for (root, (n, at, users)) in threads {
        roots.push(root);
        counts.push(n);
        last.push(at);
        senders.push(
            users
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    // Participants: the root's list, then this batch's new repliers, first-seen order, capped.
    sqlx::query(
        "UPDATE messages m SET reply_count = m.reply_count + v.n,
                last_reply_at = GREATEST(m.last_reply_at, v.at),
                thread_participants = (
                    SELECT COALESCE(array_agg(u ORDER BY o), '{}') FROM (
                        SELECT u, min(o) AS o
                        FROM unnest(m.thread_participants || string_to_array(v.users, ',')::uuid[])
                             WITH ORDINALITY AS x(u, o)
                        GROUP BY u ORDER BY min(o) LIMIT $5) AS firsts)
         FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[]) AS v(id, n, at, users)
         WHERE m.id = v.id",
    )
    .bind(&roots)
    .bind(&counts)
    .bind(&last)
    .bind(&senders)
    .bind(MAX_THREAD_PARTICIPANTS)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
