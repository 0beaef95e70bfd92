//! Blocking, settings (muted rooms among them), and accepting a direct conversation that waited for it.
//!
//! Each is one event (the first two on the actor's subject, the acceptance on the room's),
//! answered once the read model has it; repeating one appends nothing (a block that stands,
//! an accepted conversation) or changes nothing.

use natter_projections::history::queries;
use natter_schemas::Event;
use natter_schemas::event::{EventBody, MemberRemoved};
use natter_schemas::model::{MemberOrigin, Room};
use natter_schemas::people::{
    Blocked, RoomMuted, Settings, SettingsUpdated, UpdateSettingsRequest,
};
use uuid::Uuid;

use super::rooms::{append_room_event, room_view};
use crate::Actions;
use crate::error::{ApiError, ApiResult};

/// Appends one of `actor`'s own events and waits until the read model has it; the event.
pub(super) async fn append_own(state: &Actions, actor: Uuid, body: EventBody) -> ApiResult<Event> {
    let event = Event::new(actor, None, body);
    let subject = state.bus().subjects().user_event(actor, event.type_name());
    let appended = state.bus().append(subject, &event, None, false).await?;
    state.projected(appended.seq).await?;
    Ok(event)
}

/// `actor` blocks (`on`) or unblocks `user`.
pub async fn block(state: &Actions, actor: Uuid, user: Uuid, on: bool) -> ApiResult<()> {
    if user == actor {
        return Err(ApiError::invalid("user_id", "you cannot block yourself"));
    }
    if queries::existing_users(state.pool(), &[user])
        .await?
        .is_empty()
    {
        return Err(ApiError::not_found("user"));
    }
    let blocked = queries::blocks_of(state.pool(), actor)
        .await?
        .iter()
        .any(|b| b.user_id == user);
    if blocked == on {
        return Ok(());
    }
    let change = Blocked { user_id: user };
    let body = if on {
        EventBody::UserBlocked(change)
    } else {
        EventBody::UserUnblocked(change)
    };
    let event = append_own(state, actor, body).await?;
    state.hub().blocks_changed(actor, &event).await;
    Ok(())
}

pub async fn settings(state: &Actions, actor: Uuid) -> ApiResult<Settings> {
    queries::settings(state.pool(), actor)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

pub async fn update_settings(
    state: &Actions,
    actor: Uuid,
    req: &UpdateSettingsRequest,
) -> ApiResult<Settings> {
    let now = settings(state, actor).await?;
    let change = SettingsUpdated {
        dm_requests: req.dm_requests.filter(|&d| d != now.dm_requests),
        notify: req.notify.filter(|&n| n != now.notify),
    };
    if change != SettingsUpdated::default() {
        append_own(state, actor, EventBody::SettingsUpdated(change)).await?;
    }
    settings(state, actor).await
}

/// `actor` mutes (or unmutes) the notifications of `room`, one of theirs.
pub async fn mute_room(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    muted: bool,
) -> ApiResult<Settings> {
    super::member_room(state, room, actor).await?;
    let now = settings(state, actor).await?;
    if now.muted_rooms.contains(&room) != muted {
        let body = EventBody::RoomMuted(RoomMuted {
            room_id: room,
            muted,
        });
        append_own(state, actor, body).await?;
    }
    settings(state, actor).await
}

/// `actor` accepts the room or conversation `room` that someone put them in: one waiting in
/// their requests joins their rooms, and either way the membership becomes theirs (others in
/// it may see their presence; see [`natter_schemas::consent`]).
pub async fn accept(state: &Actions, actor: Uuid, room: Uuid) -> ApiResult<Room> {
    let Some(member) = super::members::member_of(state, room, actor).await? else {
        return Err(ApiError::not_found("room"));
    };
    if member.pending || member.origin == MemberOrigin::Added {
        let body = EventBody::MemberAccepted(MemberRemoved { user_id: actor });
        append_room_event(state, actor, room, body).await?;
    }
    room_view(state, room, actor).await
}
