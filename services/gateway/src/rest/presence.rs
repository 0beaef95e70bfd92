//! `GET /v1/presence`.

use axum::extract::State;
use axum::routing::get;
use natter_schemas::rest::PresenceList;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::Query;
use crate::state::AppState;

/// Most users one request asks about.
const MAX_USERS: usize = 100;

pub fn routes() -> Api {
    Api::default().route(
        "/v1/presence",
        get(presence),
        Doc::get("Presence of users, as others see it (`invisible` shows as `offline`)")
            .query("user_ids", "string", "comma-separated user ids, 1 to 100")
            .ok::<PresenceList>(200, "their presence"),
    )
}

#[derive(Deserialize)]
struct PresenceQuery {
    user_ids: Option<String>,
}

async fn presence(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<PresenceQuery>,
) -> ApiResult<axum::Json<PresenceList>> {
    let raw = q.user_ids.unwrap_or_default();
    let mut ids = raw
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<Uuid>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::invalid("user_ids", "user_ids are comma-separated user ids"))?;
    ids.dedup();
    if ids.is_empty() || ids.len() > MAX_USERS {
        return Err(ApiError::invalid(
            "user_ids",
            format!("name 1 to {MAX_USERS} users"),
        ));
    }
    Ok(axum::Json(PresenceList {
        users: state
            .presence()
            .read_for(state.pool(), user.id, &ids)
            .await?,
    }))
}
