//! Finding people: prefix search over usernames and display names (case and accents aside,
//! exact matches first), and profiles by id or username. `NATTER_USER_DIRECTORY` says who can
//! be found: everyone, or those who share a room with the caller; anyone else is 404, as for
//! no user.

use axum::extract::State;
use axum::routing::get;
use natter_projections::history::queries::{self};
use natter_schemas::model::User;
use natter_schemas::rest::UserList;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Path, Query};
use natter_actions::Actions;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/users",
            get(find),
            Doc::get(
                "Find people by the start of their username or of a word of their display name",
            )
            .query(
                "q",
                "string",
                "1 to 64 characters; case and accents do not matter; required",
            )
            .query("limit", "integer", "1 to 50, default 20")
            .ok::<UserList>(200, "exact matches first, then by username"),
        )
        .route(
            "/v1/users/{id}",
            get(by_id),
            Doc::get("A user's profile").ok::<User>(200, "the profile"),
        )
        .route(
            "/v1/users/by-name/{username}",
            get(by_name),
            Doc::get("A user's profile, by username (any case)").ok::<User>(200, "the profile"),
        )
}

#[derive(Deserialize)]
struct FindParams {
    q: Option<String>,
    limit: Option<i64>,
}

async fn find(
    State(state): State<Actions>,
    user: AuthUser,
    Query(params): Query<FindParams>,
) -> HttpResult<axum::Json<UserList>> {
    let q = natter_richtext::fold(params.q.as_deref().unwrap_or_default());
    let q = q.trim_start_matches('@');
    if q.is_empty() || q.chars().count() > 64 {
        return Err(ApiError::invalid("q", "the start of a name: 1 to 64 characters").into());
    }
    let limit = params.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid("limit", "use 1 to 50").into());
    }
    let users =
        queries::find_users(state.pool(), q, user.id, state.limits().directory, limit).await?;
    let urls = state.file_urls();
    Ok(axum::Json(UserList {
        users: users.into_iter().map(|u| u.with_urls(urls)).collect(),
    }))
}

async fn by_id(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<User>> {
    queries::find_user(
        state.pool(),
        Some(id),
        None,
        user.id,
        state.limits().directory,
    )
    .await?
    .map(|u| axum::Json(u.with_urls(state.file_urls())))
    .ok_or_else(|| ApiError::not_found("user").into())
}

async fn by_name(
    State(state): State<Actions>,
    user: AuthUser,
    Path(username): Path<String>,
) -> HttpResult<axum::Json<User>> {
    let username = username.trim_start_matches('@').to_lowercase();
    queries::find_user(
        state.pool(),
        None,
        Some(&username),
        user.id,
        state.limits().directory,
    )
    .await?
    .map(|u| axum::Json(u.with_urls(state.file_urls())))
    .ok_or_else(|| ApiError::not_found("user").into())
}
