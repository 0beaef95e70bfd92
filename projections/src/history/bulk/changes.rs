//! A stretch's reactions, edits and deletes, each kind in a few set-based statements.

use std::collections::HashMap;

use natter_schemas::Event;
use natter_schemas::event::{EventBody, MessageEdited};
use natter_schemas::previews::PreviewRef;
use natter_schemas::text;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::history::previews::kept_previews;
use crate::seq_i64;

/// The reactions of a stretch, reduced per (message, emoji, user) in log order: a key whose
/// last change is a removal is deleted; one whose last change is an addition gets the row of
/// the first addition after its last removal (the row is replaced), or of its first addition
/// when nothing removed it here (an existing row stays as it is).
pub(super) async fn reactions(
    conn: &mut PgConnection,
    events: &[(u64, Event)],
) -> Result<(), sqlx::Error> {
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
pub(super) async fn edits(
    conn: &mut PgConnection,
    events: &[(u64, Event)],
) -> Result<(), sqlx::Error> {
    // An edit after the message's delete had no effect (in particular on `edited_at`, which a
    // delete keeps): leave those out, since deletes are applied after edits.
    let mut deleted = std::collections::HashSet::new();
    let mut edits: Vec<(u64, &Event, &MessageEdited)> = Vec::new();
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
    // Every version's slot, those of messages the stretch deletes too (their delete, applied
    // after, queues them for destruction).
    crate::history::slots::record(
        conn,
        events.iter().filter_map(|(_, e)| match &e.body {
            EventBody::MessageEdited(m) => Some((m.message_id, e)),
            _ => None,
        }),
    )
    .await?;
    if edits.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = edits.iter().map(|(_, _, m)| m.message_id).collect();
    type Current = (
        Uuid,
        Uuid,
        String,
        Option<String>,
        Option<String>,
        Option<serde_json::Value>,
        Option<Json<Vec<PreviewRef>>>,
    );
    let current: Vec<Current> = sqlx::query_as(
        "SELECT id, room_id, COALESCE(body, ''), format, html, encrypted, previews
         FROM messages WHERE id = ANY($1) AND NOT deleted",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut versions: HashMap<Uuid, (Uuid, Version)> = current
        .into_iter()
        .map(|(id, room, body, format, html, encrypted, previews)| {
            let version = Version {
                body,
                format,
                html,
                encrypted,
                previews,
            };
            (id, (room, version))
        })
        .collect();
    let (mut e_ids, mut e_seqs, mut e_at) = (Vec::new(), Vec::new(), Vec::new());
    let mut before = Versions::default();
    // message -> (edited_at, mentions as text) after its last edit
    let mut last: HashMap<Uuid, (chrono::DateTime<chrono::Utc>, String)> = HashMap::new();
    for (seq, event, edit) in edits {
        let Some((room, version)) = versions.get_mut(&edit.message_id) else {
            continue;
        };
        if Some(*room) != event.room_id {
            continue;
        }
        e_ids.push(edit.message_id);
        e_seqs.push(seq_i64(seq));
        e_at.push(event.occurred_at);
        let replaced = std::mem::replace(version, Version::of(edit));
        version.previews = kept_previews(replaced.previews.clone(), &edit.body, edit.format);
        before.push(replaced);
        let mentions = edit.mentions.iter().map(Uuid::to_string);
        last.insert(
            edit.message_id,
            (event.occurred_at, mentions.collect::<Vec<_>>().join(",")),
        );
    }
    if e_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO message_edits (message_id, seq, body_before, edited_at, format_before,
                                    html_before, encrypted_before)
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[], $5::text[],
                              $6::text[], $7::jsonb[])
         ON CONFLICT DO NOTHING",
    )
    .bind(&e_ids)
    .bind(&e_seqs)
    .bind(&before.bodies)
    .bind(&e_at)
    .bind(&before.formats)
    .bind(&before.htmls)
    .bind(&before.encrypted)
    .execute(&mut *conn)
    .await?;
    let (mut m_ids, mut m_at, mut m_mentions) = (Vec::new(), Vec::new(), Vec::new());
    let mut now = Versions::default();
    for (id, (at, mentions)) in last {
        let Some((_, version)) = versions.remove(&id) else {
            continue;
        };
        m_ids.push(id);
        m_at.push(at);
        m_mentions.push(mentions);
        now.push(version);
    }
    sqlx::query(
        "UPDATE messages m SET body = v.body, edited_at = v.at, format = v.format, html = v.html,
                encrypted = v.encrypted, previews = v.previews,
                mentions = COALESCE(string_to_array(NULLIF(v.mentions, ''), ',')::uuid[], '{}')
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
                     $7::jsonb[], $8::jsonb[])
              AS v(id, body, at, mentions, format, html, encrypted, previews)
         WHERE m.id = v.id",
    )
    .bind(&m_ids)
    .bind(&now.bodies)
    .bind(&m_at)
    .bind(&m_mentions)
    .bind(&now.formats)
    .bind(&now.htmls)
    .bind(&now.encrypted)
    .bind(&now.previews)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One version of a message's text as history keeps it: body, format (`None`: plain), HTML,
/// and in an encrypted room its encrypted content.
struct Version {
    body: String,
    format: Option<String>,
    html: Option<String>,
    encrypted: Option<serde_json::Value>,
    /// Of the message now (not kept per version).
    previews: Option<Json<Vec<PreviewRef>>>,
}

impl Version {
    fn of(edit: &MessageEdited) -> Self {
        Self {
            body: edit.body.clone(),
            format: (!edit.format.is_plain()).then(|| edit.format.as_str().to_owned()),
            html: text::html(&edit.body, edit.format, &edit.mentions, &edit.mention_names),
            encrypted: edit
                .encrypted
                .as_ref()
                .and_then(|e| serde_json::to_value(e).ok()),
            previews: None,
        }
    }
}

/// Versions as columns, for `unnest`.
#[derive(Default)]
struct Versions {
    bodies: Vec<String>,
    formats: Vec<Option<String>>,
    htmls: Vec<Option<String>>,
    encrypted: Vec<Option<serde_json::Value>>,
    previews: Vec<Option<Json<Vec<PreviewRef>>>>,
}

impl Versions {
    fn push(&mut self, version: Version) {
        self.bodies.push(version.body);
        self.formats.push(version.format);
        self.htmls.push(version.html);
        self.encrypted.push(version.encrypted);
        self.previews.push(version.previews);
    }
}

/// The deletes of a stretch, for all its messages at once. A deleted message keeps its place
/// (and seq) with no body; its edit history, reactions and pin go, and a reply no longer counts
/// in its thread.
pub(super) async fn deletes(
    conn: &mut PgConnection,
    events: &[(u64, Event)],
) -> Result<(), sqlx::Error> {
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
        "UPDATE messages m SET deleted = true, body = NULL, html = NULL, previews = NULL,
                encrypted = NULL,
                mentions = '{}'
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
    crate::history::slots::queue_deleted(conn, &gone).await?;
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
