//! Signing in and out: `POST /v1/auth/register`, `login`, `refresh`, `logout`, `logout_all`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use natter_schemas::rest::{AuthResponse, LoginRequest, RegisterRequest};
use natter_schemas::sessions::{EndReason, RefreshRequest, TokenPair};

use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::Json;
use natter_actions::Actions;
use natter_actions::commands::{self, sessions};
use natter_actions::ratelimit::Action;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/auth/register",
            post(register),
            Doc::post("Create an account (and sign in)")
                .public()
                .body::<RegisterRequest>()
                .ok::<AuthResponse>(201, "the new user, a token and a refresh token"),
        )
        .route(
            "/v1/auth/login",
            post(login),
            Doc::post("Sign in: a new session")
                .public()
                .body::<LoginRequest>()
                .ok::<AuthResponse>(200, "the user, a token and a refresh token"),
        )
        .route(
            "/v1/auth/refresh",
            post(refresh),
            Doc::post(
                "Spend a refresh token for a new token and refresh token; a refresh token \
                 used twice ends its session",
            )
            .public()
            .body::<RefreshRequest>()
            .ok::<TokenPair>(200, "the new tokens"),
        )
        .route(
            "/v1/auth/logout",
            post(logout),
            Doc::post("End the caller's session: its tokens are refused from now on")
                .empty(204, "ended"),
        )
        .route(
            "/v1/auth/logout_all",
            post(logout_all),
            Doc::post("End every session of the caller's: every token issued so far is refused")
                .empty(204, "ended"),
        )
}

async fn register(
    State(state): State<Actions>,
    client: crate::net::ClientAddr,
    headers: HeaderMap,
    Json(req): Json<RegisterRequest>,
) -> HttpResult<(StatusCode, axum::Json<AuthResponse>)> {
    state
        .limiter()
        .check(Action::AuthIp, &client.ip.to_string())
        .await?;
    let res = commands::register(
        &state,
        (&req.username, &req.password),
        req.display_name.as_deref(),
        sessions::device(req.device.as_deref(), crate::auth::user_agent(&headers)),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(res)))
}

async fn login(
    State(state): State<Actions>,
    client: crate::net::ClientAddr,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> HttpResult<axum::Json<AuthResponse>> {
    // Per address (many names from one place) and per name (one name from many places).
    state
        .limiter()
        .check(Action::AuthIp, &client.ip.to_string())
        .await?;
    state
        .limiter()
        .check(Action::AuthUser, &req.username.trim().to_lowercase())
        .await?;
    let device = sessions::device(req.device.as_deref(), crate::auth::user_agent(&headers));
    Ok(axum::Json(
        commands::login(&state, (&req.username, &req.password), device).await?,
    ))
}

async fn refresh(
    State(state): State<Actions>,
    client: crate::net::ClientAddr,
    Json(req): Json<RefreshRequest>,
) -> HttpResult<axum::Json<TokenPair>> {
    state
        .limiter()
        .check(Action::AuthIp, &client.ip.to_string())
        .await?;
    Ok(axum::Json(
        sessions::refresh(&state, &req.refresh_token).await?,
    ))
}

async fn logout(State(state): State<Actions>, user: AuthUser) -> HttpResult<StatusCode> {
    let Some(session) = user.token.session else {
        return Err(ApiError::conflict(
            "this token belongs to no session here (an identity provider's): \
             use POST /v1/auth/logout_all",
        )
        .into());
    };
    sessions::end(&state, user.id, session, EndReason::Logout).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout_all(State(state): State<Actions>, user: AuthUser) -> HttpResult<StatusCode> {
    sessions::end_all(&state, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
