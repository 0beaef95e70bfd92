//! Reads of the history model, for the gateway. Every query is one indexed lookup or range.

use chrono::{DateTime, Utc};
use natter_schemas::model::{Member, Message, Role, Room, RoomKind, User, Visibility};
use natter_schemas::rest::HistoryPage;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::seq_i64;

/// A user with the password hash, for login only.
#[derive(Debug, Clone, FromRow)]
pub struct Credentials {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub status_text: Option<String>,
    pub created_at: DateTime<Utc>,
    pub password_hash: String,
}

impl Credentials {
    pub fn user(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            status_text: self.status_text.clone(),
            created_at: self.created_at,
        }
    }
}

const USER_COLUMNS: &str = "id, username, display_name, status_text, created_at, password_hash";

pub async fn credentials_by_username(
    pool: &PgPool,
    username: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
    )))
    .bind(username)
    .fetch_optional(pool)
    .await
}

pub async fn user(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let row: Option<Credentials> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|c| c.user()))
}

/// Which of `ids` exist.
pub async fn existing_users(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// What the gateway needs to authorise an action in a room.
#[derive(Debug, Clone)]
pub struct RoomAccess {
    pub kind: RoomKind,
    pub visibility: Visibility,
    pub archived: bool,
    pub last_seq: u64,
    /// The user's role, when a member.
    pub role: Option<Role>,
}

impl RoomAccess {
    /// Members read everything; anyone reads a public room.
    pub fn can_read(&self) -> bool {
        natter_schemas::model::can_read(self.visibility, self.role)
    }
}

#[derive(FromRow)]
struct AccessRow {
    kind: String,
    visibility: String,
    archived: bool,
    last_seq: i64,
    role: Option<String>,
}

pub async fn room_access(
    pool: &PgPool,
    room: Uuid,
    user: Uuid,
) -> Result<Option<RoomAccess>, sqlx::Error> {
    let row: Option<AccessRow> = sqlx::query_as(
        "SELECT r.kind, r.visibility, r.archived, r.last_seq, m.role
         FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $2
         WHERE r.id = $1",
    )
    .bind(room)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(RoomAccess::from))
}

impl From<AccessRow> for RoomAccess {
    fn from(r: AccessRow) -> Self {
        RoomAccess {
            kind: RoomKind::parse(&r.kind).unwrap_or(RoomKind::Room),
            visibility: Visibility::parse(&r.visibility).unwrap_or(Visibility::Private),
            archived: r.archived,
            last_seq: u64::try_from(r.last_seq).unwrap_or(0),
            role: r.role.as_deref().and_then(Role::parse),
        }
    }
}

/// What a send needs to know, in one query: the sender's access to the room, and whether a
/// message with this id already exists (room and seq).
pub struct SendCheck {
    pub access: RoomAccess,
    pub existing: Option<(Uuid, u64)>,
}

#[derive(FromRow)]
struct SendCheckRow {
    #[sqlx(flatten)]
    access: AccessRow,
    existing_room: Option<Uuid>,
    existing_seq: Option<i64>,
}

pub async fn send_check(
    pool: &PgPool,
    room: Uuid,
    user: Uuid,
    message: Uuid,
) -> Result<Option<SendCheck>, sqlx::Error> {
    let row: Option<SendCheckRow> = sqlx::query_as(
        "SELECT r.kind, r.visibility, r.archived, r.last_seq, m.role,
                x.room_id AS existing_room, x.seq AS existing_seq
         FROM rooms r
         LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $2
         LEFT JOIN messages x ON x.id = $3
         WHERE r.id = $1",
    )
    .bind(room)
    .bind(user)
    .bind(message)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| SendCheck {
        access: r.access.into(),
        existing: r
            .existing_room
            .zip(r.existing_seq.and_then(|s| u64::try_from(s).ok())),
    }))
}

#[derive(FromRow)]
struct RoomRow {
    id: Uuid,
    kind: String,
    name: String,
    topic: Option<String>,
    visibility: String,
    archived: bool,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    last_seq: i64,
    member_count: i64,
    my_role: Option<String>,
}

impl From<RoomRow> for Room {
    fn from(r: RoomRow) -> Self {
        Room {
            id: r.id,
            kind: RoomKind::parse(&r.kind).unwrap_or(RoomKind::Room),
            name: r.name,
            topic: r.topic,
            visibility: Visibility::parse(&r.visibility).unwrap_or(Visibility::Private),
            archived: r.archived,
            created_by: r.created_by,
            created_at: r.created_at,
            member_count: r.member_count,
            last_seq: r.last_seq,
            my_role: r.my_role.as_deref().and_then(Role::parse),
        }
    }
}

const ROOM_SELECT: &str = "SELECT r.id, r.kind, r.name, r.topic, r.visibility, r.archived,
        r.created_by, r.created_at, r.last_seq,
        (SELECT count(*) FROM members c WHERE c.room_id = r.id) AS member_count,
        m.role AS my_role
    FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $1";

/// One room as `viewer` sees it (whether they may see it is the caller's decision).
pub async fn room(pool: &PgPool, id: Uuid, viewer: Uuid) -> Result<Option<Room>, sqlx::Error> {
    let row: Option<RoomRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ROOM_SELECT} WHERE r.id = $2"
    )))
    .bind(viewer)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Room::from))
}

/// The rooms `user` belongs to, most recently active first.
pub async fn joined_rooms(pool: &PgPool, user: Uuid) -> Result<Vec<Room>, sqlx::Error> {
    let rows: Vec<RoomRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ROOM_SELECT} WHERE m.user_id IS NOT NULL ORDER BY r.last_seq DESC"
    )))
    .bind(user)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Room::from).collect())
}

/// Public, unarchived rooms, newest first (at most `limit`).
pub async fn public_rooms(
    pool: &PgPool,
    viewer: Uuid,
    limit: i64,
) -> Result<Vec<Room>, sqlx::Error> {
    let rows: Vec<RoomRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ROOM_SELECT} WHERE r.visibility = 'public' AND NOT r.archived
         ORDER BY r.created_at DESC LIMIT $2"
    )))
    .bind(viewer)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Room::from).collect())
}

#[derive(FromRow)]
struct MemberRow {
    user_id: Uuid,
    username: String,
    display_name: String,
    role: String,
    joined_at: DateTime<Utc>,
}

const MEMBER_SELECT: &str = "SELECT m.user_id, u.username, u.display_name, m.role, m.joined_at
    FROM members m JOIN users u ON u.id = m.user_id";

impl From<MemberRow> for Member {
    fn from(r: MemberRow) -> Self {
        Member {
            user_id: r.user_id,
            username: r.username,
            display_name: r.display_name,
            role: Role::parse(&r.role).unwrap_or(Role::Member),
            joined_at: r.joined_at,
        }
    }
}

pub async fn members(pool: &PgPool, room: Uuid) -> Result<Vec<Member>, sqlx::Error> {
    let rows: Vec<MemberRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{MEMBER_SELECT} WHERE m.room_id = $1 ORDER BY m.joined_seq, u.username"
    )))
    .bind(room)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Member::from).collect())
}

/// One member of a room (one primary-key lookup).
pub async fn member(pool: &PgPool, room: Uuid, user: Uuid) -> Result<Option<Member>, sqlx::Error> {
    let row: Option<MemberRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{MEMBER_SELECT} WHERE m.room_id = $1 AND m.user_id = $2"
    )))
    .bind(room)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Member::from))
}

/// How many owners, and how many members in all, a room has.
pub async fn role_counts(pool: &PgPool, room: Uuid) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE role = 'owner'), count(*) FROM members WHERE room_id = $1",
    )
    .bind(room)
    .fetch_one(pool)
    .await
}

#[derive(FromRow)]
struct MessageRow {
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
    mentions: Vec<Uuid>,
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Message {
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
            reactions: Vec::new(),
            attachments: Vec::new(),
            mentions: r.mentions,
        }
    }
}

const MESSAGE_COLUMNS: &str = "id, room_id, seq, sender_id, client_msg_id, body, created_at,
    edited_at, deleted, thread_root_id, reply_count, mentions";

pub async fn message(pool: &PgPool, id: Uuid) -> Result<Option<Message>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Message::from))
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

async fn range(
    pool: &PgPool,
    room: Uuid,
    condition: &'static str,
    descending: bool,
    bound: u64,
    limit: usize,
) -> Result<Vec<Message>, sqlx::Error> {
    let order = if descending { "DESC" } else { "ASC" };
    let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND {condition}
         ORDER BY seq {order} LIMIT $3"
    )))
    .bind(room)
    .bind(seq_i64(bound))
    .bind(i64::try_from(limit).unwrap_or(100))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Message::from).collect())
}

async fn exists(
    pool: &PgPool,
    room: Uuid,
    condition: &'static str,
    bound: u64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE room_id = $1 AND {condition})"
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
    page: Page,
    limit: usize,
) -> Result<HistoryPage, sqlx::Error> {
    let (mut older, newer, has_more_before, has_more_after) = match page {
        Page::Latest => {
            let mut older = range(pool, room, "seq <= $2", true, u64::MAX >> 1, limit + 1).await?;
            let more = older.len() > limit;
            older.truncate(limit);
            (older, Vec::new(), more, false)
        }
        Page::Before(seq) => {
            let mut older = range(pool, room, "seq < $2", true, seq, limit + 1).await?;
            let more = older.len() > limit;
            older.truncate(limit);
            let after = exists(pool, room, "seq >= $2", seq).await?;
            (older, Vec::new(), more, after)
        }
        Page::After(seq) => {
            let mut newer = range(pool, room, "seq > $2", false, seq, limit + 1).await?;
            let more = newer.len() > limit;
            newer.truncate(limit);
            let before = exists(pool, room, "seq <= $2", seq).await?;
            (Vec::new(), newer, before, more)
        }
        Page::Around(seq) => {
            let want_before = limit / 2;
            let want_after = limit - want_before;
            let mut older = range(pool, room, "seq < $2", true, seq, want_before + 1).await?;
            let mut newer = range(pool, room, "seq >= $2", false, seq, want_after + 1).await?;
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
