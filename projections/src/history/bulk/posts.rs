//! A stretch's posts in one statement, then their threads' summaries and their files.

use std::collections::HashMap;

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::text;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::seq_i64;

/// Most thread participants kept on a thread root.
const MAX_THREAD_PARTICIPANTS: i32 = 20;

/// Inserts a run of `message.posted` events with one statement, which also raises the rooms'
/// `last_seq` to `heads` and makes each sender's membership their own (posting in a room one
/// was put in accepts it, unless it waits in one's requests). The primary key is derived
/// from (sender, client_msg_id): a send appended twice (a retry after the log's dedupe window)
/// leaves one message, the first, and counts as one reply.
pub(super) async fn messages_posted(
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
    let mut formats: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut htmls: Vec<Option<String>> = Vec::with_capacity(n);
    let mut encrypted: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
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
        attachments.push(crate::history::files::attachments_column(p));
        formats.push((!p.format.is_plain()).then(|| p.format.as_str()));
        htmls.push(text::html(&p.body, p.format, &p.mentions, &p.mention_names));
        encrypted.push(
            p.encrypted
                .as_ref()
                .and_then(|e| serde_json::to_value(e).ok()),
        );
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
    crate::history::slots::record(
        conn,
        events.iter().filter_map(|(_, e)| match &e.body {
            EventBody::MessagePosted(p) => Some((p.message_id, *e)),
            _ => None,
        }),
    )
    .await?;
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
                 FROM unnest($11::uuid[], $12::bigint[]) AS h(id, seq) WHERE r.id = h.id),
             accepting AS (
                 UPDATE members m SET accepted = true
                 FROM unnest($2::uuid[], $4::uuid[], $3::bigint[], $10::bigint[])
                      AS t(room_id, sender_id, seq, checked)
                 WHERE m.room_id = t.room_id AND m.user_id = t.sender_id
                   AND NOT m.accepted AND NOT m.pending AND NOT {void})
             INSERT INTO messages (id, room_id, seq, sender_id, client_msg_id, body, created_at,
                                   thread_root_id, mentions, attachments, format, html, encrypted)
             SELECT id, room_id, seq, sender_id, client_msg_id, body, created_at, thread_root_id,
                    COALESCE(string_to_array(NULLIF(mentions, ''), ',')::uuid[], '{{}}'),
                    NULLIF(attachments, '')::jsonb, format, html, encrypted
             FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::text[],
                         $7::timestamptz[], $8::uuid[], $9::text[], $10::bigint[], $13::text[],
                         $14::text[], $15::text[], $16::jsonb[])
                  AS t(id, room_id, seq, sender_id, client_msg_id, body, created_at, thread_root_id,
                       mentions, checked, attachments, format, html, encrypted)
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
        .bind(&formats)
        .bind(&htmls)
        .bind(&encrypted)
        .fetch_all(&mut *conn)
        .await?;
    if !attaching.is_empty() {
        crate::history::files::mark_attached(conn, &attaching).await?;
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
