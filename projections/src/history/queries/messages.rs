//! Messages: one, a page of history, a thread, edit versions, pins, mentioned members.
//! Longer than 400 lines: the reads of one table, which share their select and row mapping.

use chrono::{DateTime, Utc};
use natter_schemas::files::{AttachmentRef, FileUrls};
use natter_schemas::keys::Encrypted;
use natter_schemas::model::{Message, Pin, Reaction};
use natter_schemas::previews::PreviewRef;
use natter_schemas::rest::HistoryPage;
use natter_schemas::text::Format;
use sqlx::types::Json;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::seq_i64;

#[derive(FromRow)]
pub(crate) struct MessageRow {
    id: Uuid,
    room_id: Uuid,
    seq: i64,
    sender_id: Uuid,
    client_msg_id: String,
    body: Option<String>,
    created_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
    deleted: bool,
    thread_root_id: Option<Uuid>,
    reply_count: i32,
    last_reply_at: Option<DateTime<Utc>>,
    thread_participants: Vec<Uuid>,
    mentions: Vec<Uuid>,
    reactions: Json<Vec<Reaction>>,
    attachments: Option<Json<Vec<AttachmentRef>>>,
    format: Option<String>,
    html: Option<String>,
    previews: Option<Json<Vec<PreviewRef>>>,
    encrypted: Option<Json<Encrypted>>,
    erased: bool,
}

/// Message objects from rows, their files named by `urls`.
pub(crate) fn into_messages(rows: Vec<MessageRow>, urls: &dyn FileUrls) -> Vec<Message> {
    rows.into_iter().map(|r| r.into_message(urls)).collect()
}

/// Who reads messages: their id (for `me` on reactions), and how their files' URLs are made.
#[derive(Clone, Copy)]
pub struct Viewer<'a> {
    pub id: Uuid,
    pub urls: &'a dyn FileUrls,
}

impl MessageRow {
    /// The message object, its files named by `urls` (none for a deleted message).
    pub(crate) fn into_message(self, urls: &dyn FileUrls) -> Message {
        let r = self;
        let erased = r.erased;
        let attachments = match (&r.attachments, r.deleted) {
            (Some(files), false) => files.0.iter().map(|a| a.to_attachment(urls)).collect(),
            _ => Vec::new(),
        };
        let message = Message {
            id: r.id,
            room_id: r.room_id,
            seq: r.seq,
            sender_id: r.sender_id,
            client_msg_id: r.client_msg_id,
            body: if r.deleted { None } else { r.body },
            created_at: r.created_at,
            edited_at: r.edited_at,
            deleted: r.deleted,
            thread_root_id: r.thread_root_id,
            reply_count: i64::from(r.reply_count),
            last_reply_at: r.last_reply_at,
            thread_participants: r.thread_participants,
            reactions: r.reactions.0,
            attachments,
            mentions: r.mentions,
            format: Format::from_name(r.format.as_deref()),
            html: if r.deleted { None } else { r.html },
            previews: match (r.previews, r.deleted) {
                (Some(previews), false) => previews.0.iter().map(|p| p.to_preview(urls)).collect(),
                _ => Vec::new(),
            },
            encrypted: r.encrypted.filter(|_| !r.deleted).map(|e| e.0),
            erased: false,
        };
        if erased { message.erased() } else { message }
    }
}

/// The columns of a message object, from `messages m`; `$1` is the viewer (for `me` on
/// reactions). Reactions come along in the same query: one index range per message.
pub(crate) const MESSAGE_COLUMNS: &str =
    "m.id, m.room_id, m.seq, m.sender_id, m.client_msg_id, m.body,
    m.created_at, m.edited_at, m.deleted, m.thread_root_id, m.reply_count, m.last_reply_at,
    m.thread_participants, m.mentions, m.attachments, m.format, m.html, m.previews, m.encrypted,
    m.erased,
    COALESCE((SELECT json_agg(json_build_object('emoji', x.emoji, 'count', x.n, 'me', x.me)
                              ORDER BY x.first)
              FROM (SELECT r.emoji, count(*) AS n, bool_or(r.user_id = $1) AS me,
                           min(r.seq) AS first
                    FROM reactions r WHERE r.message_id = m.id GROUP BY r.emoji) AS x),
             '[]') AS reactions";

/// One message as `viewer` sees it.
pub async fn message(
    pool: &PgPool,
    id: Uuid,
    viewer: Viewer<'_>,
) -> Result<Option<Message>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $2"
    )))
    .bind(viewer.id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.into_message(viewer.urls)))
}

/// What a change to a message needs to know about it: where it is, who wrote it, its state.
#[derive(Debug, Clone, FromRow)]
pub struct MessageState {
    pub room_id: Uuid,
    pub seq: i64,
    pub sender_id: Uuid,
    pub body: Option<String>,
    /// `markdown`, or `None` for plain text.
    pub format: Option<String>,
    pub deleted: bool,
    pub thread_root_id: Option<Uuid>,
    /// seq of the newest edit, or of the post when never edited: the version an edit replaces.
    pub version_seq: i64,
    pub pinned: bool,
    /// Whether `viewer` reacted with the asked-for emoji (false when none was asked for).
    pub reacted: bool,
}

/// One message's state, and whether `viewer` reacted with `emoji`.
pub async fn message_state(
    pool: &PgPool,
    id: Uuid,
    viewer: Uuid,
    emoji: Option<&str>,
) -> Result<Option<MessageState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.room_id, m.seq, m.sender_id, m.body, m.format, m.deleted, m.thread_root_id,
                COALESCE((SELECT max(e.seq) FROM message_edits e WHERE e.message_id = m.id), m.seq)
                    AS version_seq,
                EXISTS (SELECT 1 FROM pins p WHERE p.room_id = m.room_id AND p.message_id = m.id)
                    AS pinned,
                EXISTS (SELECT 1 FROM reactions r
                        WHERE r.message_id = m.id AND r.emoji = $3 AND r.user_id = $2) AS reacted
         FROM messages m WHERE m.id = $1",
    )
    .bind(id)
    .bind(viewer)
    .bind(emoji)
    .fetch_optional(pool)
    .await
}

/// Which page of history to read.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    /// The newest messages.
    Latest,
    /// Messages with `seq < before`.
    Before(u64),
    /// Messages with `seq > after`.
    After(u64),
    /// Messages around `seq`: about half before it, the rest from it on.
    Around(u64),
}

/// Messages of one room (`$2`) or one thread, ordered by seq, `limit` at most. `condition` is
/// on `m.seq` against the bound `$3`.
async fn range(
    pool: &PgPool,
    scope: Scope,
    viewer: Viewer<'_>,
    condition: &'static str,
    descending: bool,
    bound: u64,
    limit: usize,
) -> Result<Vec<Message>, sqlx::Error> {
    let order = if descending { "DESC" } else { "ASC" };
    let filter = scope.filter();
    let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE {filter} AND {condition}
         ORDER BY m.seq {order} LIMIT $4"
    )))
    .bind(viewer.id)
    .bind(scope.id())
    .bind(seq_i64(bound))
    .bind(i64::try_from(limit).unwrap_or(100))
    .fetch_all(pool)
    .await?;
    Ok(into_messages(rows, viewer.urls))
}

/// A room's messages, or one thread's replies.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Room(Uuid),
    Thread(Uuid),
}

impl Scope {
    fn filter(self) -> &'static str {
        match self {
            Self::Room(_) => "m.room_id = $2",
            Self::Thread(_) => "m.thread_root_id = $2",
        }
    }
    fn id(self) -> Uuid {
        match self {
            Self::Room(id) | Self::Thread(id) => id,
        }
    }
}

async fn exists(
    pool: &PgPool,
    room: Uuid,
    condition: &'static str,
    bound: u64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = $1 AND {condition})"
    )))
    .bind(room)
    .bind(seq_i64(bound))
    .fetch_one(pool)
    .await
}

/// One page of a room's history, ascending `seq`, `limit` messages at most. Each direction
/// reads one more row than it returns to learn whether more exist.
pub async fn history(
    pool: &PgPool,
    room: Uuid,
    viewer: Viewer<'_>,
    page: Page,
    limit: usize,
) -> Result<HistoryPage, sqlx::Error> {
    let scope = Scope::Room(room);
    let (mut older, newer, has_more_before, has_more_after) = match page {
        Page::Latest => {
            let mut older = range(
                pool,
                scope,
                viewer,
                "m.seq <= $3",
                true,
                u64::MAX >> 1,
                limit + 1,
            )
            .await?;
            let more = older.len() > limit;
            older.truncate(limit);
            (older, Vec::new(), more, false)
        }
        Page::Before(seq) => {
            let mut older = range(pool, scope, viewer, "m.seq < $3", true, seq, limit + 1).await?;
            let more = older.len() > limit;
            older.truncate(limit);
            let after = exists(pool, room, "m.seq >= $2", seq).await?;
            (older, Vec::new(), more, after)
        }
        Page::After(seq) => {
            let mut newer = range(pool, scope, viewer, "m.seq > $3", false, seq, limit + 1).await?;
            let more = newer.len() > limit;
            newer.truncate(limit);
            let before = exists(pool, room, "m.seq <= $2", seq).await?;
            (Vec::new(), newer, before, more)
        }
        Page::Around(seq) => {
            let want_before = limit / 2;
            let want_after = limit - want_before;
            let mut older = range(
                pool,
                scope,
                viewer,
                "m.seq < $3",
                true,
                seq,
                want_before + 1,
            )
            .await?;
            let mut newer = range(
                pool,
                scope,
                viewer,
                "m.seq >= $3",
                false,
                seq,
                want_after + 1,
            )
            .await?;
            let more_before = older.len() > want_before;
            let more_after = newer.len() > want_after;
            older.truncate(want_before);
            newer.truncate(want_after);
            (older, newer, more_before, more_after)
        }
    };
    older.reverse();
    older.extend(newer);
    Ok(HistoryPage {
        messages: older,
        has_more_before,
        has_more_after,
    })
}

/// Replies of the thread rooted at `root`, ascending seq, after `after`.
pub async fn thread_replies(
    pool: &PgPool,
    root: Uuid,
    viewer: Viewer<'_>,
    after: u64,
    limit: usize,
) -> Result<(Vec<Message>, bool), sqlx::Error> {
    let mut replies = range(
        pool,
        Scope::Thread(root),
        viewer,
        "m.seq > $3",
        false,
        after,
        limit + 1,
    )
    .await?;
    let more = replies.len() > limit;
    replies.truncate(limit);
    Ok((replies, more))
}

#[derive(FromRow)]
struct PinRow {
    #[sqlx(flatten)]
    message: MessageRow,
    pinned_by: Uuid,
    pinned_at: DateTime<Utc>,
    pin_seq: i64,
}

/// A room's pinned messages, newest pin first.
pub async fn pins(pool: &PgPool, room: Uuid, viewer: Viewer<'_>) -> Result<Vec<Pin>, sqlx::Error> {
    let rows: Vec<PinRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS}, p.pinned_by, p.pinned_at, p.seq AS pin_seq
         FROM pins p JOIN messages m ON m.id = p.message_id
         WHERE p.room_id = $2 ORDER BY p.seq DESC"
    )))
    .bind(viewer.id)
    .bind(room)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Pin {
            message: r.message.into_message(viewer.urls),
            pinned_by: r.pinned_by,
            pinned_at: r.pinned_at,
            seq: r.pin_seq,
        })
        .collect())
}

/// How many messages a room has pinned.
pub async fn pin_count(pool: &PgPool, room: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM pins WHERE room_id = $1")
        .bind(room)
        .fetch_one(pool)
        .await
}

/// Of `usernames`, the ids and usernames of those who are members of `room`.
pub async fn members_named(
    pool: &PgPool,
    room: Uuid,
    usernames: &[String],
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.username FROM users u JOIN members m ON m.user_id = u.id AND m.room_id = $1
         WHERE u.username = ANY($2) ORDER BY u.username",
    )
    .bind(room)
    .bind(usernames)
    .fetch_all(pool)
    .await
}

/// Of `ids`, the messages that are deleted.
pub async fn deleted_among(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM messages WHERE id = ANY($1) AND deleted")
        .bind(ids)
        .fetch_all(pool)
        .await
}
