//! One's own sessions: `GET /v1/me/sessions`, `DELETE /v1/me/sessions/{id}`, and
//! `POST /v1/me/password`, which ends every other.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use natter_schemas::sessions::{EndReason, PasswordChangeRequest, SessionList, TokenPair};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::HttpResult;
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path};
use natter_actions::Actions;
use natter_actions::commands::sessions;
use natter_actions::ratelimit::Action;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/me/sessions",
            get(list),
            Doc::get("The caller's sessions that have not ended, newest first")
                .ok::<SessionList>(200, "the sessions"),
        )
        .route(
            "/v1/me/sessions/{id}",
            delete(end),
            Doc::delete("End one of the caller's sessions: its tokens are refused, its sockets closed with 4001")
                .empty(204, "ended"),
        )
        .route(
            "/v1/me/password",
            post(change_password),
            Doc::post(
                "Change the password: every session ends (REST 401, sockets closed with 4001) \
                 and the caller carries on in a new one",
            )
            .body::<PasswordChangeRequest>()
            .ok::<TokenPair>(200, "the new session's tokens"),
        )
}

async fn list(State(state): State<Actions>, user: AuthUser) -> HttpResult<axum::Json<SessionList>> {
    Ok(axum::Json(
        sessions::list(&state, user.id, user.token.session).await?,
    ))
}

async fn end(
    State(state): State<Actions>,
    user: AuthUser,
    Path(session): Path<Uuid>,
) -> HttpResult<StatusCode> {
    let reason = if user.token.session == Some(session) {
        EndReason::Logout
    } else {
        EndReason::Ended
    };
    sessions::end(&state, user.id, session, reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn change_password(
    State(state): State<Actions>,
    user: AuthUser,
    headers: HeaderMap,
    Json(req): Json<PasswordChangeRequest>,
) -> HttpResult<axum::Json<TokenPair>> {
    // Guessing the old password is limited like logins are.
    state
        .limiter()
        .check(Action::AuthUser, &user.id.to_string())
        .await?;
    let device = sessions::device(None, crate::auth::user_agent(&headers));
    Ok(axum::Json(
        sessions::change_password(
            &state,
            &user,
            (&req.old_password, &req.new_password),
            device,
        )
        .await?,
    ))
}
