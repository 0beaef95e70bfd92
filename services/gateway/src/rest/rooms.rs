//! Rooms and direct conversations: create, list, read, change, archive, join, leave.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use natter_projections::history::queries;
use natter_schemas::model::{Room, RoomKind, can_read};
use natter_schemas::rest::{CreateRoomRequest, OpenDmRequest, RoomList, UpdateRoomRequest};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path, Query};
use natter_actions::Actions;
use natter_actions::commands;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/rooms",
            post(create),
            Doc::post("Create a room; the caller is its owner")
                .body::<CreateRoomRequest>()
                .ok::<Room>(201, "the room"),
        )
        .route(
            "/v1/rooms",
            get(list),
            Doc::get("Rooms: those the caller joined (default, with `unread`, `mentions` and `last_read_seq`), or public ones")
                .query("scope", "string", "`joined` (default), `requests` (direct conversations waiting for the caller's acceptance) or `public`")
                .query(
                    "limit",
                    "integer",
                    "joined: a page of 1 to 200 rooms, most recently active first (default: all)",
                )
                .query("cursor", "string", "joined: `next_cursor` of the previous page")
                .query(
                    "min_seq",
                    "integer",
                    "wait (bounded) until the read models have this seq",
                )
                .ok::<RoomList>(200, "rooms"),
        )
        .route(
            "/v1/rooms/{id}",
            get(show),
            Doc::get("One room (members, or anyone for a public room)").ok::<Room>(200, "the room"),
        )
        .route(
            "/v1/rooms/{id}",
            patch(update),
            Doc::patch("Change name, topic or visibility (owner or admin)")
                .body::<UpdateRoomRequest>()
                .ok::<Room>(200, "the room"),
        )
        .route(
            "/v1/rooms/{id}",
            delete(archive),
            Doc::delete("Archive the room (owner or admin): no more messages or joins")
                .ok::<Room>(200, "the archived room"),
        )
        .route(
            "/v1/rooms/{id}/join",
            post(join),
            Doc::post("Join a public room (idempotent)").ok::<Room>(200, "the room"),
        )
        .route(
            "/v1/rooms/{id}/leave",
            post(leave),
            Doc::post("Leave a room").empty(204, "left"),
        )
        .route(
            "/v1/dms",
            post(open_dm),
            Doc::post("Open the direct conversation with these users, or return the existing one")
                .body::<OpenDmRequest>()
                .ok::<Room>(201, "created")
                .ok::<Room>(200, "it already existed"),
        )
}

async fn create(
    State(state): State<Actions>,
    user: AuthUser,
    Json(req): Json<CreateRoomRequest>,
) -> HttpResult<(StatusCode, axum::Json<Room>)> {
    let room = commands::create_room(&state, user.id, &req).await?;
    Ok((StatusCode::CREATED, axum::Json(room)))
}

#[derive(Deserialize)]
struct ListQuery {
    scope: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    min_seq: Option<u64>,
}

/// A page's end: the last room's `last_seq` and id.
fn parse_cursor(cursor: &str) -> Option<(i64, Uuid)> {
    let (seq, id) = cursor.split_once('.')?;
    Some((seq.parse().ok()?, id.parse().ok()?))
}

async fn list(
    State(state): State<Actions>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> HttpResult<axum::Json<RoomList>> {
    if let Some(seq) = q.min_seq {
        state.min_seq_reachable(seq).await?;
        state.projected_rooms(seq).await?;
    }
    let mut next_cursor = None;
    let rooms = match q.scope.as_deref() {
        None | Some("joined") | Some("requests") => {
            let requests = q.scope.as_deref() == Some("requests");
            let page = match (q.limit, q.cursor.as_deref()) {
                (None, None) => None,
                (limit, cursor) => {
                    let limit = limit.unwrap_or(50);
                    if !(1..=200).contains(&limit) {
                        return Err(ApiError::invalid("limit", "use 1 to 200").into());
                    }
                    let after = match cursor {
                        None => None,
                        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
                            ApiError::invalid("cursor", "pass back a next_cursor as it was")
                        })?),
                    };
                    Some((limit, after))
                }
            };
            // The rooms and their counts come from two read models, read at the same time.
            let (rooms, counts) = tokio::join!(
                queries::joined_rooms(state.pool(), user.id, page, requests),
                natter_projections::unread::queries::unread(state.pool(), user.id)
            );
            let counts: std::collections::HashMap<Uuid, _> =
                counts?.into_iter().map(|c| (c.room_id, c)).collect();
            let mut rooms = rooms?;
            for room in &mut rooms {
                let c = counts.get(&room.id);
                room.unread = Some(c.map_or(0, |c| c.unread));
                room.mentions = Some(c.map_or(0, |c| c.mentions));
                room.last_read_seq = c.map(|c| c.last_read_seq);
            }
            if let (Some((limit, _)), Some(last)) = (page, rooms.last())
                && rooms.len() as i64 == limit
            {
                next_cursor = Some(format!("{}.{}", last.last_seq, last.id));
            }
            conversation_list(&state, user.id, &mut rooms).await?;
            rooms
        }
        Some("public") => queries::public_rooms(state.pool(), user.id, 200).await?,
        Some(_) => {
            return Err(ApiError::invalid("scope", "scope is joined, requests or public").into());
        }
    };
    Ok(axum::Json(RoomList { rooms, next_cursor }))
}

/// What a conversation list shows besides the rooms: each one's last message, and the other
/// members of direct conversations.
async fn conversation_list(state: &Actions, user: Uuid, rooms: &mut [Room]) -> HttpResult<()> {
    let ids: Vec<Uuid> = rooms.iter().map(|r| r.id).collect();
    let (last, dm) = tokio::join!(
        queries::last_messages(state.pool(), &ids, state.viewer(user)),
        queries::dm_members(state.pool(), &ids, user)
    );
    let mut last: std::collections::HashMap<Uuid, _> =
        last?.into_iter().map(|m| (m.room_id, m)).collect();
    let mut members: std::collections::HashMap<Uuid, Vec<_>> = std::collections::HashMap::new();
    for (room, member) in dm? {
        members.entry(room).or_default().push(member);
    }
    for room in rooms.iter_mut() {
        room.last_message = last.remove(&room.id).map(Box::new);
        if room.kind == RoomKind::Dm {
            room.members = Some(members.remove(&room.id).unwrap_or_default());
        }
    }
    Ok(())
}

async fn show(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<Room>> {
    // One read: the room as the caller sees it says whether they may see it at all.
    queries::room(state.pool(), id, user.id)
        .await?
        .filter(|room| can_read(room.visibility, room.my_role))
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("room").into())
}

async fn update(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateRoomRequest>,
) -> HttpResult<axum::Json<Room>> {
    Ok(axum::Json(
        commands::update_room(&state, user.id, id, &req).await?,
    ))
}

async fn archive(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<Room>> {
    Ok(axum::Json(
        commands::archive_room(&state, user.id, id).await?,
    ))
}

async fn join(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<Room>> {
    Ok(axum::Json(commands::join(&state, user.id, id).await?))
}

async fn leave(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<StatusCode> {
    commands::leave(&state, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn open_dm(
    State(state): State<Actions>,
    user: AuthUser,
    Json(req): Json<OpenDmRequest>,
) -> HttpResult<(StatusCode, axum::Json<Room>)> {
    let (room, created) = commands::open_dm(&state, user.id, &req.user_ids).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(room)))
}
