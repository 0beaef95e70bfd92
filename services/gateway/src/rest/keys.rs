//! The device key directory of end-to-end encryption: each device publishes its public keys
//! under its owner; whoever shares a room with the owner reads them. Private keys never reach
//! the server. Keys are events in the log (`device.key_published`, `device.key_revoked`) on
//! their owner's subject, so the directory is rebuilt with everything else; what publishing
//! and withdrawing check and append is [`natter_actions::commands::keys`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use natter_projections::history::queries;
use natter_schemas::keys::{KeyList, PublishKeyRequest};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path};
use natter_actions::Actions;
use natter_actions::commands;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/me/keys/{key_id}",
            put(publish),
            Doc::put("Publish (or replace) a public key of one of the caller's devices")
                .body::<PublishKeyRequest>()
                .ok::<KeyList>(200, "the caller's keys now"),
        )
        .route(
            "/v1/me/keys/{key_id}",
            delete(revoke),
            Doc::delete("Withdraw a key (a lost or retired device)").empty(204, "withdrawn"),
        )
        .route(
            "/v1/users/{id}/keys",
            get(user_keys),
            Doc::get("A user's published keys (oneself, or someone one shares a room with)")
                .ok::<KeyList>(200, "the keys"),
        )
        .route(
            "/v1/rooms/{id}/keys",
            get(room_keys),
            Doc::get("The published keys of a room's members (members only)")
                .ok::<KeyList>(200, "the keys"),
        )
}

async fn publish(
    State(state): State<Actions>,
    user: AuthUser,
    Path(key_id): Path<String>,
    Json(req): Json<PublishKeyRequest>,
) -> HttpResult<axum::Json<KeyList>> {
    Ok(axum::Json(
        commands::keys::publish(&state, user.id, key_id, req).await?,
    ))
}

async fn revoke(
    State(state): State<Actions>,
    user: AuthUser,
    Path(key_id): Path<String>,
) -> HttpResult<StatusCode> {
    commands::keys::revoke(&state, user.id, key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user_keys(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<KeyList>> {
    let visible = id == user.id
        || queries::seen_by(state.pool(), user.id, &[id])
            .await?
            .contains(&id);
    if !visible {
        return Err(ApiError::not_found("user").into());
    }
    Ok(axum::Json(KeyList {
        keys: queries::user_keys(state.pool(), id).await?,
    }))
}

async fn room_keys(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<KeyList>> {
    commands::member_room(&state, id, user.id).await?;
    // The keys of the members the caller may see (one's own, and those who chose a room they
    // share with the caller, no block either way): an end-to-end encrypted room encrypts to a
    // member put in it once they accept it or post in it.
    let mut keys = queries::room_keys(state.pool(), id).await?;
    let mut owners: Vec<Uuid> = keys.iter().map(|k| k.user_id).collect();
    owners.dedup();
    let seen = queries::seen_by(state.pool(), user.id, &owners).await?;
    keys.retain(|k| k.user_id == user.id || seen.contains(&k.user_id));
    Ok(axum::Json(KeyList { keys }))
}
