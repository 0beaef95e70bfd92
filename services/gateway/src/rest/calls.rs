//! Calls: the ICE servers a client connects calls through, and a room's past calls. The
//! signalling itself is the WebSocket's `call` frame.

use axum::extract::State;
use axum::routing::get;
use natter_projections::history::queries;
use natter_schemas::calls::{CallList, IceServers};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::HttpResult;
use crate::openapi::{Api, Doc};
use crate::rest::extract::Path;
use std::sync::Arc;

use crate::config::GatewayConfig;
use natter_actions::Actions;
use natter_actions::commands;

/// Calls listed per request.
const CALLS_LISTED: i64 = 50;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/calls/ice_servers",
            get(ice_servers),
            Doc::get(
                "STUN and TURN servers for calls (TURN credentials of the caller's own, expiring)",
            )
            .ok::<IceServers>(200, "the servers, as RTCPeerConnection takes them"),
        )
        .route(
            "/v1/rooms/{id}/calls",
            get(list),
            Doc::get("A room's past calls, newest first (at most 50)")
                .ok::<CallList>(200, "the calls"),
        )
}

async fn ice_servers(
    State(config): State<Arc<GatewayConfig>>,
    user: AuthUser,
) -> axum::Json<IceServers> {
    axum::Json(
        config
            .calls
            .ice_servers(user.id, natter_actions::auth::now_secs()),
    )
}

async fn list(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<CallList>> {
    commands::readable_room(&state, id, user.id).await?;
    Ok(axum::Json(CallList {
        calls: queries::calls(state.pool(), id, None, CALLS_LISTED).await?,
    }))
}
