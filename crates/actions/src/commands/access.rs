//! Who may do what in a room: the access rules every write path and subscription checks.

use natter_projections::history::queries::{self, RoomAccess};
use natter_schemas::model::{Role, RoomKind, Visibility};
use uuid::Uuid;

use crate::Actions;
use crate::error::{ApiError, ApiResult};

/// The caller's view of a room, or `not_found` when they may not see it (a private room they
/// are not in is indistinguishable from no room); `forbidden` for a public room they are
/// banned from.
pub async fn readable_room(state: &Actions, room: Uuid, actor: Uuid) -> ApiResult<RoomAccess> {
    match queries::room_access(state.pool(), room, actor).await? {
        Some(access) if access.can_read() => Ok(access),
        Some(access) if access.visibility == Visibility::Public && access.banned_visitor() => {
            Err(ApiError::forbidden("you are banned from this room"))
        }
        _ => Err(ApiError::not_found("room")),
    }
}

/// Like [`readable_room`], and the caller must be a member.
pub async fn member_room(state: &Actions, room: Uuid, actor: Uuid) -> ApiResult<RoomAccess> {
    let access = readable_room(state, room, actor).await?;
    if access.role.is_none() {
        return Err(ApiError::forbidden("you are not a member of this room"));
    }
    Ok(access)
}

pub fn admin_of(access: &RoomAccess) -> ApiResult<Role> {
    match access.role {
        Some(role) if role.is_admin() => Ok(role),
        _ => Err(ApiError::forbidden("this needs a room owner or admin")),
    }
}

pub(crate) fn not_dm(access: &RoomAccess) -> ApiResult<()> {
    if access.kind == RoomKind::Dm {
        Err(ApiError::forbidden(
            "direct conversations have a fixed set of members",
        ))
    } else {
        Ok(())
    }
}

/// An archived room is read-only: members read it, move their read positions and may leave;
/// nothing else changes in it (messages, reactions, pins, typing, members, roles, moderation).
pub(crate) fn not_archived(access: &RoomAccess) -> ApiResult<()> {
    if access.archived {
        Err(ApiError::forbidden("the room is archived"))
    } else {
        Ok(())
    }
}

/// A muted member reads, marks read, deletes their own messages and may leave; until the mute
/// ends they do not send, edit, react or type.
pub(crate) fn not_muted(access: &RoomAccess) -> ApiResult<()> {
    match access.muted_until.filter(|u| *u > chrono::Utc::now()) {
        Some(until) => Err(ApiError::forbidden(format!(
            "you are muted in this room until {}",
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))),
        None => Ok(()),
    }
}

/// A room the caller may show as typing (or call) in: a member, not muted, not archived.
pub async fn typing_room(state: &Actions, room: Uuid, actor: Uuid) -> ApiResult<RoomAccess> {
    let access = member_room(state, room, actor).await?;
    not_archived(&access)?;
    not_muted(&access)?;
    Ok(access)
}
