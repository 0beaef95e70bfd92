//! Rooms: creation (and direct conversations), settings, archiving, joining and leaving.

use natter_projections::history::queries::{self};
use natter_schemas::event::{
    EventBody, MemberChanged, MemberRemoved, RoomArchived, RoomCreated, RoomMember, RoomUpdated,
};
use natter_schemas::model::{Role, Room, RoomKind, Visibility};
use natter_schemas::rest::{CreateRoomRequest, UpdateRoomRequest};
use natter_schemas::{Event, ids};
use uuid::Uuid;

use super::access::{admin_of, member_room, not_archived, not_dm, readable_room};
use crate::Actions;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Action;
use crate::validate;

/// Most members named when a room is created.
const MAX_INITIAL_MEMBERS: usize = 100;
/// Most participants of a direct conversation besides the caller.
const MAX_DM_OTHERS: usize = 8;

/// Appends a room event and waits until the history and unread models have applied it (so that
/// a join or leave shows in `GET /v1/unread` as soon as it is answered).
pub(crate) async fn append_room_event(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    body: EventBody,
) -> ApiResult<u64> {
    let event = Event::new(actor, Some(room), body);
    let subject = state.bus().subjects().room_event(room, event.type_name());
    let appended = state.bus().append(subject, &event, None, false).await?;
    state.projected_rooms(appended.seq).await?;
    Ok(appended.seq)
}

pub(crate) async fn room_view(state: &Actions, room: Uuid, actor: Uuid) -> ApiResult<Room> {
    queries::room(state.pool(), room, actor)
        .await?
        .ok_or_else(|| ApiError::not_found("room"))
}

/// Dedupes `ids`, drops the caller, and checks that every one is a user.
pub(crate) async fn other_users(
    state: &Actions,
    actor: Uuid,
    ids: &[Uuid],
    field: &str,
) -> ApiResult<Vec<Uuid>> {
    let mut others: Vec<Uuid> = ids.iter().copied().filter(|id| *id != actor).collect();
    others.sort_unstable();
    others.dedup();
    let found = queries::existing_users(state.pool(), &others).await?;
    if found.len() != others.len() {
        return Err(unknown_users(field));
    }
    Ok(others)
}

fn unknown_users(field: &str) -> ApiError {
    ApiError::invalid(field, "some of these users do not exist")
}

pub async fn create_room(state: &Actions, actor: Uuid, req: &CreateRoomRequest) -> ApiResult<Room> {
    let name = validate::name("name", &req.name, 1, 80)?;
    let topic = req
        .topic
        .as_deref()
        .map(|t| validate::text("topic", t, 0, 500))
        .transpose()?
        .filter(|t| !t.is_empty());
    let requested = req.member_ids.as_deref().unwrap_or_default();
    if requested.len() > MAX_INITIAL_MEMBERS {
        return Err(ApiError::invalid(
            "member_ids",
            format!("at most {MAX_INITIAL_MEMBERS} members"),
        ));
    }
    if req.e2ee && req.visibility == Visibility::Public {
        return Err(ApiError::invalid(
            "e2ee",
            "end-to-end encrypted rooms are private: only their members hold the keys",
        ));
    }
    let others = other_users(state, actor, requested, "member_ids").await?;
    // Someone who blocks the caller, or whom the caller blocks, is answered as no user is
    // (before the rate limit, as an unknown user is); someone who has not accepted the caller
    // and asked for requests gets the room as one.
    let added = super::consent::additions(state, actor, &others)
        .await?
        .ok_or_else(|| unknown_users("member_ids"))?;
    state
        .limiter()
        .check(Action::RoomCreate, &actor.to_string())
        .await?;
    let mut members = vec![RoomMember {
        user_id: actor,
        role: Role::Owner,
        pending: false,
    }];
    members.extend(added.into_iter().map(|(user_id, pending)| RoomMember {
        user_id,
        role: Role::Member,
        pending,
    }));
    let room = Uuid::now_v7();
    let event = Event::new(
        actor,
        Some(room),
        EventBody::RoomCreated(RoomCreated {
            kind: RoomKind::Room,
            name,
            visibility: req.visibility,
            topic,
            members,
            e2ee: req.e2ee,
        }),
    );
    let subject = state.bus().subjects().room_created(room);
    let appended = state.bus().append(subject, &event, None, true).await?;
    state.projected_rooms(appended.seq).await?;
    room_view(state, room, actor).await
}

/// Opens the direct conversation between the caller and `user_ids`, or returns the existing
/// one. `true` when this call created it.
pub async fn open_dm(state: &Actions, actor: Uuid, user_ids: &[Uuid]) -> ApiResult<(Room, bool)> {
    let others = other_users(state, actor, user_ids, "user_ids").await?;
    if others.is_empty() || others.len() > MAX_DM_OTHERS {
        return Err(ApiError::invalid(
            "user_ids",
            format!("name 1 to {MAX_DM_OTHERS} other users"),
        ));
    }
    let Some(added) = super::consent::additions(state, actor, &others).await? else {
        return Err(ApiError::forbidden(
            "a block stands between you and someone named: no conversation can be opened",
        ));
    };
    let waiting: Vec<Uuid> = added
        .into_iter()
        .filter_map(|(user, pending)| pending.then_some(user))
        .collect();
    let mut everyone = others;
    everyone.push(actor);
    let room = ids::dm_room_id(&everyone);
    if let Some(existing) = queries::room(state.pool(), room, actor).await? {
        return Ok((existing, false));
    }
    state
        .limiter()
        .check(Action::RoomCreate, &actor.to_string())
        .await?;
    let event = Event::new(
        actor,
        Some(room),
        EventBody::RoomCreated(RoomCreated {
            kind: RoomKind::Dm,
            name: String::new(),
            visibility: Visibility::Private,
            topic: None,
            members: everyone
                .iter()
                .map(|&user_id| RoomMember {
                    user_id,
                    role: Role::Member,
                    // People who accept direct conversations from strangers only.
                    pending: waiting.contains(&user_id),
                })
                .collect(),
            e2ee: false,
        }),
    );
    let subject = state.bus().subjects().room_created(room);
    let (seq, created) = match state.bus().append(subject, &event, None, true).await {
        Ok(appended) => (appended.seq, true),
        // Someone opened it first (another device, another gateway): it is in the log, so the
        // read model will have it once it reaches the head.
        Err(e) if e.kind == natter_bus::BusErrorKind::Conflict => {
            (state.bus().last_seq().await?, false)
        }
        Err(e) => return Err(e.into()),
    };
    state.projected_rooms(seq).await?;
    Ok((room_view(state, room, actor).await?, created))
}

pub async fn update_room(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    req: &UpdateRoomRequest,
) -> ApiResult<Room> {
    let access = readable_room(state, room, actor).await?;
    admin_of(&access)?;
    not_dm(&access)?;
    not_archived(&access)?;
    if access.e2ee && req.visibility == Some(Visibility::Public) {
        return Err(ApiError::invalid(
            "visibility",
            "an end-to-end encrypted room stays private",
        ));
    }
    let update = RoomUpdated {
        name: req
            .name
            .as_deref()
            .map(|n| validate::name("name", n, 1, 80))
            .transpose()?,
        topic: req
            .topic
            .as_deref()
            .map(|t| validate::text("topic", t, 0, 500))
            .transpose()?,
        visibility: req.visibility,
    };
    if update.name.is_some() || update.topic.is_some() || update.visibility.is_some() {
        append_room_event(state, actor, room, EventBody::RoomUpdated(update)).await?;
    }
    room_view(state, room, actor).await
}

pub async fn archive_room(state: &Actions, actor: Uuid, room: Uuid) -> ApiResult<Room> {
    let access = readable_room(state, room, actor).await?;
    admin_of(&access)?;
    not_dm(&access)?;
    if !access.archived {
        append_room_event(state, actor, room, EventBody::RoomArchived(RoomArchived {})).await?;
    }
    room_view(state, room, actor).await
}

/// Archives any room (an administrator's action: no membership needed).
pub async fn archive_as_admin(state: &Actions, actor: Uuid, room: Uuid) -> ApiResult<()> {
    let access = queries::room_access(state.pool(), room, actor)
        .await?
        .ok_or_else(|| ApiError::not_found("room"))?;
    if !access.archived {
        append_room_event(state, actor, room, EventBody::RoomArchived(RoomArchived {})).await?;
    }
    Ok(())
}

pub async fn join(state: &Actions, actor: Uuid, room: Uuid) -> ApiResult<Room> {
    let access = readable_room(state, room, actor).await?;
    if access.role.is_none() {
        if access.visibility != Visibility::Public {
            return Err(ApiError::forbidden("private rooms need an invite"));
        }
        if access.banned {
            return Err(ApiError::forbidden("you are banned from this room"));
        }
        not_archived(&access)?;
        let body = EventBody::MemberJoined(MemberChanged {
            user_id: actor,
            role: Role::Member,
            pending: false,
        });
        append_room_event(state, actor, room, body).await?;
    }
    room_view(state, room, actor).await
}

pub async fn leave(state: &Actions, actor: Uuid, room: Uuid) -> ApiResult<()> {
    let access = member_room(state, room, actor).await?;
    not_dm(&access)?;
    if access.role == Some(Role::Owner)
        && matches!(queries::role_counts(state.pool(), room).await?, (1, n) if n > 1)
    {
        return Err(ApiError::conflict(
            "you are the last owner: make someone else owner first",
        ));
    }
    let body = EventBody::MemberLeft(MemberRemoved { user_id: actor });
    append_room_event(state, actor, room, body).await?;
    Ok(())
}
