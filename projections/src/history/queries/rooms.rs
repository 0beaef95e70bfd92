//! Rooms as a viewer sees them, their members, bans and roles.

use chrono::{DateTime, Utc};
use natter_schemas::model::{Member, Role, Room, RoomKind, Visibility};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

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
    my_pending: Option<bool>,
    e2ee: bool,
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
            e2ee: r.e2ee,
            unread: None,
            mentions: None,
            last_read_seq: None,
            last_message: None,
            members: None,
            pending: r.my_pending.unwrap_or(false),
        }
    }
}

const ROOM_SELECT: &str = "SELECT r.id, r.kind, r.name, r.topic, r.visibility, r.archived,
        r.created_by, r.created_at, r.last_seq, r.e2ee,
        (SELECT count(*) FROM members c WHERE c.room_id = r.id) AS member_count,
        m.role AS my_role, m.pending AS my_pending
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

/// The rooms `user` belongs to, most recently active first (by `last_seq`, then id): all of
/// them, or a page of `limit` after `after` (the `(last_seq, id)` of the previous page's last).
/// `requests`: the direct conversations waiting for the user's acceptance, instead of the
/// rest.
pub async fn joined_rooms(
    pool: &PgPool,
    user: Uuid,
    page: Option<(i64, Option<(i64, Uuid)>)>,
    requests: bool,
) -> Result<Vec<Room>, sqlx::Error> {
    let (limit, after) = match page {
        Some((limit, after)) => (Some(limit), after),
        None => (None, None),
    };
    let rows: Vec<RoomRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ROOM_SELECT} WHERE m.user_id IS NOT NULL AND m.pending = $5
           AND ($2::bigint IS NULL OR (r.last_seq, r.id) < ($2, $3))
         ORDER BY r.last_seq DESC, r.id DESC LIMIT $4"
    )))
    .bind(user)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .bind(requests)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Room::from).collect())
}

/// The other members of the direct conversations among `rooms`, by room.
pub async fn dm_members(
    pool: &PgPool,
    rooms: &[Uuid],
    viewer: Uuid,
) -> Result<Vec<(Uuid, natter_schemas::model::DmMember)>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT m.room_id, u.id, u.display_name
         FROM members m JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id
         WHERE m.room_id = ANY($1) AND r.kind = 'dm' AND m.user_id <> $2
         ORDER BY m.room_id, m.joined_seq, u.id",
    )
    .bind(rooms)
    .bind(viewer)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(room, user_id, display_name)| {
            let member = natter_schemas::model::DmMember {
                user_id,
                display_name,
            };
            (room, member)
        })
        .collect())
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
    muted_until: Option<DateTime<Utc>>,
    user_id: Uuid,
    username: String,
    display_name: String,
    role: String,
    joined_at: DateTime<Utc>,
    added_by: Option<Uuid>,
    accepted: bool,
    pending: bool,
}

const MEMBER_SELECT: &str = "SELECT m.user_id, u.username, u.display_name, m.role, m.joined_at,
        CASE WHEN m.muted_until > now() THEN m.muted_until END AS muted_until,
        m.added_by, m.accepted, m.pending
    FROM members m JOIN users u ON u.id = m.user_id";

impl From<MemberRow> for Member {
    fn from(r: MemberRow) -> Self {
        Member {
            user_id: r.user_id,
            username: r.username,
            display_name: r.display_name,
            role: Role::parse(&r.role).unwrap_or(Role::Member),
            joined_at: r.joined_at,
            muted_until: r.muted_until,
            origin: natter_schemas::model::MemberOrigin::of(r.added_by, r.accepted),
            added_by: r.added_by,
            pending: r.pending,
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

/// A room's bans, newest first.
pub async fn bans(
    pool: &PgPool,
    room: Uuid,
) -> Result<Vec<natter_schemas::model::Ban>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT user_id, banned_by, banned_at FROM bans WHERE room_id = $1 ORDER BY seq DESC",
    )
    .bind(room)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(user_id, banned_by, banned_at)| natter_schemas::model::Ban {
                user_id,
                banned_by,
                banned_at,
            },
        )
        .collect())
}

/// Whether `user` is banned from `room`.
pub async fn banned(pool: &PgPool, room: Uuid, user: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bans WHERE room_id = $1 AND user_id = $2)")
        .bind(room)
        .bind(user)
        .fetch_one(pool)
        .await
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

/// The newest message not deleted of each of `rooms` that has one (one index range each).
pub async fn last_messages(
    pool: &PgPool,
    rooms: &[Uuid],
    viewer: super::Viewer<'_>,
) -> Result<Vec<natter_schemas::model::Message>, sqlx::Error> {
    let rows: Vec<super::messages::MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM unnest($2::uuid[]) AS wanted(id)
         CROSS JOIN LATERAL (SELECT * FROM messages x
                             WHERE x.room_id = wanted.id AND NOT x.deleted
                             ORDER BY x.seq DESC LIMIT 1) m",
        super::messages::MESSAGE_COLUMNS
    )))
    .bind(viewer.id)
    .bind(rooms)
    .fetch_all(pool)
    .await?;
    Ok(super::messages::into_messages(rows, viewer.urls))
}
