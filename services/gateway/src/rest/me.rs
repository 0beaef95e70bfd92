//! `GET /v1/me`, `PATCH /v1/me`.

use axum::extract::State;
use axum::routing::get;
use natter_projections::history::queries;
use natter_schemas::model::User;
use natter_schemas::rest::UpdateMeRequest;

use crate::auth::AuthUser;
use crate::commands;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::Json;
use crate::state::AppState;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/me",
            get(get_me),
            Doc::get("Own profile").ok::<User>(200, "the caller"),
        )
        .route(
            "/v1/me",
            axum::routing::patch(patch_me),
            Doc::patch("Change own display name, status text or avatar")
                .body::<UpdateMeRequest>()
                .ok::<User>(200, "the updated profile"),
        )
}

async fn get_me(State(state): State<AppState>, user: AuthUser) -> ApiResult<axum::Json<User>> {
    queries::user(state.pool(), user.id)
        .await?
        .map(|u| axum::Json(u.with_urls(&*state.files().urls)))
        .ok_or_else(|| ApiError::not_found("user"))
}

async fn patch_me(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<UpdateMeRequest>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(
        commands::update_me(&state, user.id, &req).await?,
    ))
}
