//! Members: invitations, roles, and moderation (kicks, mutes, bans).

use natter_projections::history::queries::{self, RoomAccess};
use natter_schemas::event::{EventBody, MemberChanged, MemberMuted, MemberRemoved};
use natter_schemas::model::{Member, Role, Visibility};
use uuid::Uuid;

use super::access::{admin_of, member_room, not_archived, not_dm};
use super::rooms::append_room_event;
use crate::Actions;
use crate::error::{ApiError, ApiResult};

pub(crate) async fn member_of(
    state: &Actions,
    room: Uuid,
    user: Uuid,
) -> ApiResult<Option<Member>> {
    Ok(queries::member(state.pool(), room, user).await?)
}

/// Adds `user` to the room. In private rooms only admins may; in public rooms any member.
/// `true` when the user was added by this call.
pub async fn invite(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    user: Uuid,
) -> ApiResult<(Member, bool)> {
    let access = member_room(state, room, actor).await?;
    not_dm(&access)?;
    not_archived(&access)?;
    if access.visibility == Visibility::Private {
        admin_of(&access)?;
    }
    if let Some(existing) = member_of(state, room, user).await? {
        return Ok((existing, false));
    }
    if queries::user(state.pool(), user).await?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    // A block either way is answered as no user is (the answer does not tell who blocks
    // whom); someone who has not accepted the caller and asked for requests gets it as one.
    let Some(&[(_, pending)]) = super::consent::additions(state, actor, &[user])
        .await?
        .as_deref()
    else {
        return Err(ApiError::not_found("user"));
    };
    if queries::banned(state.pool(), room, user).await? {
        return Err(ApiError::conflict(
            "the user is banned from this room: unban them first",
        ));
    }
    let body = EventBody::MemberInvited(MemberChanged {
        user_id: user,
        role: Role::Member,
        pending,
    });
    append_room_event(state, actor, room, body).await?;
    let member = member_of(state, room, user)
        .await?
        .ok_or_else(|| ApiError::unavailable("the member is not readable yet; retry"))?;
    Ok((member, true))
}

/// A moderator (owner or admin) acting on `user`: not themselves, and not someone of their
/// own rank or above (an owner acts on anyone else). Returns the target when a member.
async fn moderate(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    user: Uuid,
) -> ApiResult<(RoomAccess, Option<Member>)> {
    let access = member_room(state, room, actor).await?;
    not_dm(&access)?;
    let actor_role = admin_of(&access)?;
    not_archived(&access)?;
    if user == actor {
        return Err(ApiError::invalid(
            "user_id",
            "moderators do not moderate themselves",
        ));
    }
    let target = member_of(state, room, user).await?;
    match target.as_ref().map(|t| t.role) {
        Some(Role::Owner) if actor_role != Role::Owner => {
            Err(ApiError::forbidden("only an owner can do this to an owner"))
        }
        Some(Role::Admin) if actor_role == Role::Admin => Err(ApiError::forbidden(
            "an admin cannot do this to another admin",
        )),
        _ => Ok((access, target)),
    }
}

pub async fn kick(state: &Actions, actor: Uuid, room: Uuid, user: Uuid) -> ApiResult<()> {
    let (_, target) = moderate(state, actor, room, user).await?;
    if target.is_none() {
        return Err(ApiError::not_found("member"));
    }
    let body = EventBody::MemberKicked(MemberRemoved { user_id: user });
    append_room_event(state, actor, room, body).await?;
    Ok(())
}

/// Mutes a member for `minutes` (they cannot send until then).
pub async fn mute(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    user: Uuid,
    minutes: u32,
) -> ApiResult<Member> {
    if !(1..=43_200).contains(&minutes) {
        return Err(ApiError::invalid(
            "minutes",
            "minutes must be 1 to 43200 (30 days)",
        ));
    }
    let (_, target) = moderate(state, actor, room, user).await?;
    if target.is_none() {
        return Err(ApiError::not_found("member"));
    }
    let until = chrono::Utc::now() + chrono::Duration::minutes(i64::from(minutes));
    let body = EventBody::MemberMuted(MemberMuted {
        user_id: user,
        until,
    });
    append_room_event(state, actor, room, body).await?;
    member_of(state, room, user)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))
}

pub async fn unmute(state: &Actions, actor: Uuid, room: Uuid, user: Uuid) -> ApiResult<()> {
    let (_, target) = moderate(state, actor, room, user).await?;
    if target.is_some_and(|t| t.muted_until.is_some()) {
        let body = EventBody::MemberUnmuted(MemberRemoved { user_id: user });
        append_room_event(state, actor, room, body).await?;
    }
    Ok(())
}

/// Bans `user` (a member or not): removed from the room, and unable to join it again.
pub async fn ban(state: &Actions, actor: Uuid, room: Uuid, user: Uuid) -> ApiResult<()> {
    moderate(state, actor, room, user).await?;
    if queries::user(state.pool(), user).await?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    if !queries::banned(state.pool(), room, user).await? {
        let body = EventBody::MemberBanned(MemberRemoved { user_id: user });
        append_room_event(state, actor, room, body).await?;
    }
    Ok(())
}

pub async fn unban(state: &Actions, actor: Uuid, room: Uuid, user: Uuid) -> ApiResult<()> {
    moderate(state, actor, room, user).await?;
    if queries::banned(state.pool(), room, user).await? {
        let body = EventBody::MemberUnbanned(MemberRemoved { user_id: user });
        append_room_event(state, actor, room, body).await?;
    }
    Ok(())
}

/// Owners set roles. The last owner cannot step down.
pub async fn set_role(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    user: Uuid,
    role: Role,
) -> ApiResult<Member> {
    let access = member_room(state, room, actor).await?;
    not_dm(&access)?;
    if access.role != Some(Role::Owner) {
        return Err(ApiError::forbidden("only an owner can change roles"));
    }
    not_archived(&access)?;
    let target = member_of(state, room, user)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    if target.role == role {
        return Ok(target);
    }
    if target.role == Role::Owner && queries::role_counts(state.pool(), room).await?.0 == 1 {
        return Err(ApiError::conflict("a room needs at least one owner"));
    }
    let body = EventBody::MemberRoleChanged(MemberChanged {
        user_id: user,
        role,
        pending: false,
    });
    append_room_event(state, actor, room, body).await?;
    member_of(state, room, user)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))
}
