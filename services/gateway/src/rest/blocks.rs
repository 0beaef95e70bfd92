//! What one decides about other people: `PUT`/`DELETE`/`GET /v1/me/blocks`, `GET`/`PATCH
//! /v1/me/settings`, `PUT /v1/rooms/{id}/notifications`, and `POST /v1/rooms/{id}/accept` for a
//! direct conversation that waited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use natter_projections::history::queries;
use natter_schemas::model::Room;
use natter_schemas::people::{BlockList, RoomNotifications, Settings, UpdateSettingsRequest};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::HttpResult;
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path};
use natter_actions::Actions;
use natter_actions::commands::people;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/me/blocks",
            get(list),
            Doc::get("Whom the caller blocks, latest first").ok::<BlockList>(200, "the blocks"),
        )
        .route(
            "/v1/me/blocks/{user_id}",
            put(block),
            Doc::put(
                "Block a user: no conversation with them, none of their messages, reactions or \
                 typing delivered, no presence either way",
            )
            .empty(204, "blocked"),
        )
        .route(
            "/v1/me/blocks/{user_id}",
            delete(unblock),
            Doc::delete("Unblock a user").empty(204, "unblocked"),
        )
        .route(
            "/v1/me/settings",
            get(settings),
            Doc::get("The caller's settings").ok::<Settings>(200, "the settings"),
        )
        .route(
            "/v1/me/settings",
            patch(update_settings),
            Doc::patch("Change settings")
                .body::<UpdateSettingsRequest>()
                .ok::<Settings>(200, "the settings now"),
        )
        .route(
            "/v1/rooms/{id}/notifications",
            put(room_notifications),
            Doc::put("Mute (or unmute) a room's notifications for the caller (a member)")
                .body::<RoomNotifications>()
                .ok::<Settings>(200, "the settings now"),
        )
        .route(
            "/v1/rooms/{id}/accept",
            post(accept),
            Doc::post("Accept a direct conversation that waits for the caller")
                .ok::<Room>(200, "the conversation"),
        )
}

async fn list(State(state): State<Actions>, user: AuthUser) -> HttpResult<axum::Json<BlockList>> {
    let blocks = queries::blocks_of(state.pool(), user.id).await?;
    Ok(axum::Json(BlockList { blocks }))
}

async fn block(
    State(state): State<Actions>,
    user: AuthUser,
    Path(other): Path<Uuid>,
) -> HttpResult<StatusCode> {
    people::block(&state, user.id, other, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unblock(
    State(state): State<Actions>,
    user: AuthUser,
    Path(other): Path<Uuid>,
) -> HttpResult<StatusCode> {
    people::block(&state, user.id, other, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn settings(
    State(state): State<Actions>,
    user: AuthUser,
) -> HttpResult<axum::Json<Settings>> {
    Ok(axum::Json(people::settings(&state, user.id).await?))
}

async fn update_settings(
    State(state): State<Actions>,
    user: AuthUser,
    Json(req): Json<UpdateSettingsRequest>,
) -> HttpResult<axum::Json<Settings>> {
    Ok(axum::Json(
        people::update_settings(&state, user.id, &req).await?,
    ))
}

async fn room_notifications(
    State(state): State<Actions>,
    user: AuthUser,
    Path(room): Path<Uuid>,
    Json(req): Json<RoomNotifications>,
) -> HttpResult<axum::Json<Settings>> {
    Ok(axum::Json(
        people::mute_room(&state, user.id, room, req.muted).await?,
    ))
}

async fn accept(
    State(state): State<Actions>,
    user: AuthUser,
    Path(room): Path<Uuid>,
) -> HttpResult<axum::Json<Room>> {
    Ok(axum::Json(people::accept(&state, user.id, room).await?))
}
