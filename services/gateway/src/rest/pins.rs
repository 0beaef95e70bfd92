//! Pinned messages.

use axum::extract::State;
use axum::routing::{delete, get, post};
use natter_projections::history::queries;
use natter_schemas::rest::{ChangeReply, PinList, PinRequest};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::HttpResult;
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path};
use natter_actions::Actions;
use natter_actions::commands;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/rooms/{id}/pins",
            get(list),
            Doc::get("A room's pinned messages, newest pin first").ok::<PinList>(200, "the pins"),
        )
        .route(
            "/v1/rooms/{id}/pins",
            post(pin),
            Doc::post("Pin a message of the room (owner or admin; at most 50 per room)")
                .body::<PinRequest>()
                .ok::<ChangeReply>(200, "pinned, or `changed: false` when it already was"),
        )
        .route(
            "/v1/rooms/{id}/pins/{message_id}",
            delete(unpin),
            Doc::delete("Unpin a message (owner or admin)")
                .ok::<ChangeReply>(200, "unpinned, or `changed: false` when it was not pinned"),
        )
}

async fn list(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<PinList>> {
    commands::readable_room(&state, id, user.id).await?;
    Ok(axum::Json(PinList {
        pins: queries::pins(state.pool(), id, state.viewer(user.id)).await?,
    }))
}

async fn pin(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<PinRequest>,
) -> HttpResult<axum::Json<ChangeReply>> {
    Ok(axum::Json(
        commands::messages::pin(&state, user.id, id, req.message_id, true).await?,
    ))
}

async fn unpin(
    State(state): State<Actions>,
    user: AuthUser,
    Path((id, message)): Path<(Uuid, Uuid)>,
) -> HttpResult<axum::Json<ChangeReply>> {
    Ok(axum::Json(
        commands::messages::pin(&state, user.id, id, message, false).await?,
    ))
}
