//! `POST /v1/auth/register`, `POST /v1/auth/login`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use natter_schemas::rest::{AuthResponse, LoginRequest, RegisterRequest};

use crate::commands;
use crate::error::ApiResult;
use crate::openapi::{Api, Doc};
use crate::ratelimit::Action;
use crate::rest::extract::Json;
use crate::state::AppState;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/auth/register",
            post(register),
            Doc::post("Create an account")
                .public()
                .body::<RegisterRequest>()
                .ok::<AuthResponse>(201, "the new user and a token"),
        )
        .route(
            "/v1/auth/login",
            post(login),
            Doc::post("Log in")
                .public()
                .body::<LoginRequest>()
                .ok::<AuthResponse>(200, "the user and a token"),
        )
}

async fn register(
    State(state): State<AppState>,
    client: crate::net::ClientAddr,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, axum::Json<AuthResponse>)> {
    state
        .limiter()
        .check(Action::AuthIp, &client.ip.to_string())
        .await?;
    let res = commands::register(
        &state,
        &req.username,
        &req.password,
        req.display_name.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(res)))
}

async fn login(
    State(state): State<AppState>,
    client: crate::net::ClientAddr,
    Json(req): Json<LoginRequest>,
) -> ApiResult<axum::Json<AuthResponse>> {
    // Per address (many names from one place) and per name (one name from many places).
    state
        .limiter()
        .check(Action::AuthIp, &client.ip.to_string())
        .await?;
    state
        .limiter()
        .check(Action::AuthUser, &req.username.trim().to_lowercase())
        .await?;
    Ok(axum::Json(
        commands::login(&state, &req.username, &req.password).await?,
    ))
}
