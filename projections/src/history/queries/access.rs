//! What the gateway needs to authorise an action in a room, and a send's check.

use chrono::{DateTime, Utc};
use natter_schemas::model::{Role, RoomKind, Visibility};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// What the gateway needs to authorise an action in a room.
#[derive(Debug, Clone)]
pub struct RoomAccess {
    pub kind: RoomKind,
    pub visibility: Visibility,
    pub archived: bool,
    pub last_seq: u64,
    /// The user's role, when a member.
    pub role: Option<Role>,
    /// Until when the member may not send (a moderator muted them).
    pub muted_until: Option<DateTime<Utc>>,
    /// A moderator banned the user: they may not join again.
    pub banned: bool,
    /// End-to-end encrypted: messages carry only encrypted payloads.
    pub e2ee: bool,
}

impl RoomAccess {
    /// Members read everything; anyone not banned from it reads a public room.
    pub fn can_read(&self) -> bool {
        natter_schemas::model::can_read(self.visibility, self.role) && !self.banned_visitor()
    }

    /// Banned from a public room (a ban also ends the membership): kept out of reading it.
    pub fn banned_visitor(&self) -> bool {
        self.banned && self.role.is_none()
    }
}

#[derive(FromRow)]
struct AccessRow {
    kind: String,
    visibility: String,
    archived: bool,
    last_seq: i64,
    role: Option<String>,
    muted_until: Option<DateTime<Utc>>,
    banned: bool,
    e2ee: bool,
}

/// The access columns, for `rooms r LEFT JOIN members m` with the user as `$2`.
const ACCESS_COLUMNS: &str =
    "r.kind, r.visibility, r.archived, r.last_seq, m.role, m.muted_until, r.e2ee,
    EXISTS (SELECT 1 FROM bans b WHERE b.room_id = r.id AND b.user_id = $2) AS banned";

pub async fn room_access(
    pool: &PgPool,
    room: Uuid,
    user: Uuid,
) -> Result<Option<RoomAccess>, sqlx::Error> {
    let row: Option<AccessRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCESS_COLUMNS}
         FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $2
         WHERE r.id = $1"
    )))
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
            muted_until: r.muted_until,
            banned: r.banned,
            e2ee: r.e2ee,
        }
    }
}

/// What a send needs to know, in one query: the sender's access to the room, and whether a
/// message with this id already exists (room and seq).
pub struct SendCheck {
    pub access: RoomAccess,
    pub existing: Option<(Uuid, u64)>,
    /// The history read model's checkpoint in the same snapshot: the seq of the log this
    /// check saw (a post's `checked_at`).
    pub checked_at: u64,
}

#[derive(FromRow)]
struct SendCheckRow {
    #[sqlx(flatten)]
    access: AccessRow,
    existing_room: Option<Uuid>,
    existing_seq: Option<i64>,
    checked_at: Option<i64>,
}

pub async fn send_check(
    pool: &PgPool,
    room: Uuid,
    user: Uuid,
    message: Uuid,
) -> Result<Option<SendCheck>, sqlx::Error> {
    let row: Option<SendCheckRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCESS_COLUMNS}, x.room_id AS existing_room, x.seq AS existing_seq,
                (SELECT last_seq FROM projection_checkpoints WHERE name = 'history') AS checked_at
         FROM rooms r
         LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $2
         LEFT JOIN messages x ON x.id = $3
         WHERE r.id = $1"
    )))
    .bind(room)
    .bind(user)
    .bind(message)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| SendCheck {
        checked_at: r
            .checked_at
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0),
        access: r.access.into(),
        existing: r
            .existing_room
            .zip(r.existing_seq.and_then(|s| u64::try_from(s).ok())),
    }))
}
