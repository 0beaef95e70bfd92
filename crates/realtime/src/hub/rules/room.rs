//! A room's rules at one seq: who may send, as the history read model's rows say and as each
//! access change of the log changes them (the way the history projection does), and their
//! read from those rows.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use natter_projections::history::queries::RoomAccess;
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::model::{Role, RoomKind, Visibility};
use sqlx::PgPool;
use uuid::Uuid;

/// Rooms with more members than this are checked in PostgreSQL (their rules would take
/// megabytes on every gateway with a socket in them).
const MAX_MEMBERS: i64 = 50_000;

/// A change to who may send, as the feed delivers it.
#[derive(Debug, Clone)]
pub(super) enum Change {
    Member(Uuid, Role),
    Role(Uuid, Role),
    Removed(Uuid),
    Banned(Uuid),
    Unbanned(Uuid),
    Muted(Uuid, DateTime<Utc>),
    Unmuted(Uuid),
    Archived,
    Visibility(Visibility),
}

impl Change {
    pub(super) fn of(event: &Event) -> Option<Self> {
        Some(match &event.body {
            EventBody::MemberJoined(m) | EventBody::MemberInvited(m) => {
                Self::Member(m.user_id, m.role)
            }
            EventBody::MemberRoleChanged(m) => Self::Role(m.user_id, m.role),
            EventBody::MemberLeft(m) | EventBody::MemberKicked(m) => Self::Removed(m.user_id),
            EventBody::MemberBanned(m) => Self::Banned(m.user_id),
            EventBody::MemberUnbanned(m) => Self::Unbanned(m.user_id),
            EventBody::MemberMuted(m) => Self::Muted(m.user_id, m.until),
            EventBody::MemberUnmuted(m) => Self::Unmuted(m.user_id),
            EventBody::RoomArchived(_) => Self::Archived,
            EventBody::RoomUpdated(u) => Self::Visibility(u.visibility?),
            _ => return None,
        })
    }
}

/// A room's rules at one seq: what the history read model's `rooms`, `members`, `bans` and
/// `mutes` rows say, changed the way the history projection changes them.
#[derive(Debug, Clone)]
pub(super) struct RoomRules {
    pub(super) kind: RoomKind,
    pub(super) visibility: Visibility,
    pub(super) archived: bool,
    /// Set at creation, for good.
    pub(super) e2ee: bool,
    pub(super) roles: HashMap<Uuid, Role>,
    pub(super) bans: HashSet<Uuid>,
    /// Kept across leaving and joining again, like the `mutes` table.
    pub(super) mutes: HashMap<Uuid, DateTime<Utc>>,
}

impl RoomRules {
    /// A public room with nobody in it (tests start from it).
    #[cfg(test)]
    pub(super) fn public_room() -> Self {
        Self {
            kind: RoomKind::Room,
            visibility: Visibility::Public,
            archived: false,
            e2ee: false,
            roles: HashMap::new(),
            bans: HashSet::new(),
            mutes: HashMap::new(),
        }
    }

    pub(super) fn apply(&mut self, change: &Change) {
        match *change {
            // Joining again keeps the role held (the projection's ON CONFLICT DO NOTHING).
            Change::Member(user, role) => {
                self.roles.entry(user).or_insert(role);
            }
            Change::Role(user, role) => {
                if let Some(held) = self.roles.get_mut(&user) {
                    *held = role;
                }
            }
            Change::Removed(user) => {
                self.roles.remove(&user);
            }
            Change::Banned(user) => {
                self.roles.remove(&user);
                self.bans.insert(user);
            }
            Change::Unbanned(user) => {
                self.bans.remove(&user);
            }
            Change::Muted(user, until) => {
                self.mutes.insert(user, until);
            }
            Change::Unmuted(user) => {
                self.mutes.remove(&user);
            }
            Change::Archived => self.archived = true,
            Change::Visibility(v) => self.visibility = v,
        }
    }

    pub(super) fn access(&self, user: Uuid, last_seq: u64) -> RoomAccess {
        let role = self.roles.get(&user).copied();
        RoomAccess {
            kind: self.kind,
            visibility: self.visibility,
            archived: self.archived,
            last_seq,
            role,
            // A member's mute, as `members.muted_until` has it.
            muted_until: role.and(self.mutes.get(&user).copied()),
            banned: self.bans.contains(&user),
            e2ee: self.e2ee,
        }
    }
}

/// The room's rules and the history checkpoint they are at, read in one snapshot; None for a
/// room that is not there or too large to hold.
pub(super) async fn read(
    pool: &PgPool,
    room: Uuid,
) -> Result<Option<(RoomRules, u64)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let at = natter_projections::checkpoint(&mut *tx, natter_projections::history::History::NAME)
        .await
        .map_err(|e| match e {
            natter_projections::ProjectionError::Db(e) => e,
            other => sqlx::Error::Protocol(other.to_string()),
        })?;
    let room_row: Option<(String, String, bool, i64, bool)> = sqlx::query_as(
        "SELECT kind, visibility, archived,
                (SELECT count(*) FROM members WHERE room_id = $1), e2ee
         FROM rooms WHERE id = $1",
    )
    .bind(room)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((kind, visibility, archived, members, e2ee)) = room_row else {
        return Ok(None);
    };
    if members > MAX_MEMBERS {
        return Ok(None);
    }
    let roles: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT user_id, role FROM members WHERE room_id = $1")
            .bind(room)
            .fetch_all(&mut *tx)
            .await?;
    let bans: Vec<Uuid> = sqlx::query_scalar("SELECT user_id FROM bans WHERE room_id = $1")
        .bind(room)
        .fetch_all(&mut *tx)
        .await?;
    let mutes: Vec<(Uuid, DateTime<Utc>)> =
        sqlx::query_as("SELECT user_id, until FROM mutes WHERE room_id = $1")
            .bind(room)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let rules = RoomRules {
        kind: RoomKind::parse(&kind).unwrap_or(RoomKind::Room),
        visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Private),
        archived,
        e2ee,
        roles: roles
            .into_iter()
            .filter_map(|(user, role)| Some((user, Role::parse(&role)?)))
            .collect(),
        bans: bans.into_iter().collect(),
        mutes: mutes.into_iter().collect(),
    };
    Ok(Some((rules, at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_removes_the_member_and_a_mute_outlives_leaving() {
        let bob = Uuid::new_v4();
        let mut rules = RoomRules::public_room();
        rules.apply(&Change::Member(bob, Role::Member));
        let until = Utc::now() + chrono::Duration::hours(1);
        rules.apply(&Change::Muted(bob, until));
        rules.apply(&Change::Removed(bob));
        assert_eq!(rules.access(bob, 0).muted_until, None);
        rules.apply(&Change::Member(bob, Role::Member));
        assert_eq!(rules.access(bob, 0).muted_until, Some(until));
        rules.apply(&Change::Banned(bob));
        let access = rules.access(bob, 0);
        assert!(access.banned && access.role.is_none());
    }
}
