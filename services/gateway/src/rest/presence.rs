//! `GET /v1/presence`, `GET /v1/rooms/{id}/presence`.

use axum::extract::State;
use axum::routing::get;
use natter_schemas::rest::{PresenceList, RoomPresence};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Path, Query};
use natter_actions::Actions;
use natter_realtime::presence::Presence;

/// Most users one request asks about.
const MAX_USERS: usize = 100;

/// Most members of a room whose presence is read; a larger room is refused.
const MAX_ROOM_MEMBERS: usize = 2000;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/presence",
            get(presence),
            Doc::get("Presence of users, as others see it (`invisible` shows as `offline`)")
                .query("user_ids", "string", "comma-separated user ids, 1 to 100")
                .ok::<PresenceList>(200, "their presence"),
        )
        .route(
            "/v1/rooms/{id}/presence",
            get(room_presence),
            Doc::get("Who of a room's members is online now (members only)")
                .query("limit", "integer", "members listed, 0 to 100, default 50")
                .ok::<RoomPresence>(200, "how many are online, and the first of them"),
        )
}

#[derive(Deserialize)]
struct RoomPresenceQuery {
    limit: Option<usize>,
}

async fn room_presence(
    State(state): State<Actions>,
    State(presence): State<Presence>,
    user: AuthUser,
    Path(room): Path<Uuid>,
    Query(q): Query<RoomPresenceQuery>,
) -> HttpResult<axum::Json<RoomPresence>> {
    let limit = q.limit.unwrap_or(50);
    if limit > MAX_USERS {
        return Err(ApiError::invalid("limit", format!("use 0 to {MAX_USERS}")).into());
    }
    natter_actions::commands::member_room(&state, room, user.id).await?;
    let mut members: Vec<Uuid> = natter_projections::history::queries::members(state.pool(), room)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    if members.len() > MAX_ROOM_MEMBERS {
        return Err(ApiError::invalid(
            "room",
            format!("presence is read for rooms of at most {MAX_ROOM_MEMBERS} members"),
        )
        .into());
    }
    // The members the caller may see: those who chose a room they share with the caller
    // (this one or another), with no block either way.
    members.sort_unstable();
    let visible = presence.visible_to(state.pool(), user.id, &members).await?;
    let read = presence.read_shown(&members, &visible).await?;
    let online: Vec<_> = read
        .into_iter()
        .filter(|p| p.status != natter_schemas::frames::PresenceStatus::Offline)
        .collect();
    Ok(axum::Json(RoomPresence {
        online: online.len(),
        users: online.into_iter().take(limit).collect(),
    }))
}

#[derive(Deserialize)]
struct PresenceQuery {
    user_ids: Option<String>,
}

async fn presence(
    State(state): State<Actions>,
    State(presence): State<Presence>,
    user: AuthUser,
    Query(q): Query<PresenceQuery>,
) -> HttpResult<axum::Json<PresenceList>> {
    let raw = q.user_ids.unwrap_or_default();
    let mut ids = raw
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<Uuid>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::invalid("user_ids", "user_ids are comma-separated user ids"))?;
    ids.dedup();
    if ids.is_empty() || ids.len() > MAX_USERS {
        return Err(ApiError::invalid("user_ids", format!("name 1 to {MAX_USERS} users")).into());
    }
    Ok(axum::Json(PresenceList {
        users: presence.read_for(state.pool(), user.id, &ids).await?,
    }))
}
