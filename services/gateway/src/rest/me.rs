//! `GET /v1/me`, `PATCH /v1/me`, `DELETE /v1/me` (erasure), `GET /v1/me/export`.

use axum::extract::State;
use axum::routing::get;
use natter_projections::history::queries;
use natter_schemas::model::User;
use natter_schemas::rest::UpdateMeRequest;

use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::Json;
use natter_actions::Actions;
use natter_actions::commands;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/me",
            get(get_me),
            Doc::get("Own profile").ok::<User>(200, "the caller"),
        )
        .route(
            "/v1/me",
            axum::routing::delete(delete_me),
            Doc::delete(
                "Erase the caller's account: sign-in, profile and everything they wrote become \
                 unreadable everywhere (history shows their messages as erased); export first",
            )
            .body::<natter_schemas::people::EraseRequest>()
            .empty(204, "erased"),
        )
        .route(
            "/v1/me/export",
            get(export),
            Doc::get("The caller's own data, as JSON (to keep before erasing the account)")
                .ok::<natter_schemas::people::UserExport>(200, "the data"),
        )
        .route(
            "/v1/me",
            axum::routing::patch(patch_me),
            Doc::patch("Change own display name, status text or avatar")
                .body::<UpdateMeRequest>()
                .ok::<User>(200, "the updated profile"),
        )
}

async fn get_me(State(state): State<Actions>, user: AuthUser) -> HttpResult<axum::Json<User>> {
    queries::user(state.pool(), user.id)
        .await?
        .map(|u| axum::Json(u.with_urls(state.file_urls())))
        .ok_or_else(|| ApiError::not_found("user").into())
}

async fn patch_me(
    State(state): State<Actions>,
    user: AuthUser,
    Json(req): Json<UpdateMeRequest>,
) -> HttpResult<axum::Json<User>> {
    Ok(axum::Json(
        commands::update_me(&state, user.id, &req).await?,
    ))
}

async fn delete_me(
    State(state): State<Actions>,
    user: AuthUser,
    Json(req): Json<natter_schemas::people::EraseRequest>,
) -> HttpResult<axum::http::StatusCode> {
    // Guessing the password is limited like logins are.
    state
        .limiter()
        .check(
            natter_actions::ratelimit::Action::AuthUser,
            &user.id.to_string(),
        )
        .await?;
    commands::erasure::erase_self(&state, user.id, &req.password).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn export(
    State(state): State<Actions>,
    user: AuthUser,
) -> HttpResult<impl axum::response::IntoResponse> {
    let data = commands::erasure::export(&state, user.id, user.token.session).await?;
    Ok((
        [(
            axum::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"natter-export.json\"",
        )],
        axum::Json(data),
    ))
}
