//! Members and roles: list, invite, kick, set role.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use natter_projections::history::queries;
use natter_schemas::model::Member;
use natter_schemas::rest::{InviteRequest, MemberList, SetRoleRequest};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::commands;
use crate::error::ApiResult;
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path};
use crate::state::AppState;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/rooms/{id}/members",
            get(list),
            Doc::get("A room's members").ok::<MemberList>(200, "members"),
        )
        .route(
            "/v1/rooms/{id}/members",
            post(invite),
            Doc::post("Add a user (admins in private rooms; any member in public rooms)")
                .body::<InviteRequest>()
                .ok::<Member>(201, "added")
                .ok::<Member>(200, "was already a member"),
        )
        .route(
            "/v1/rooms/{id}/members/{user_id}",
            delete(kick),
            Doc::delete("Remove a member (owner or admin)").empty(204, "removed"),
        )
        .route(
            "/v1/rooms/{id}/members/{user_id}/role",
            put(set_role),
            Doc::put("Set a member's role (owner)")
                .body::<SetRoleRequest>()
                .ok::<Member>(200, "the member"),
        )
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<MemberList>> {
    commands::readable_room(&state, id, user.id).await?;
    let members = queries::members(state.pool(), id).await?;
    Ok(axum::Json(MemberList { members }))
}

async fn invite(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<InviteRequest>,
) -> ApiResult<(StatusCode, axum::Json<Member>)> {
    let (member, added) = commands::invite(&state, user.id, id, req.user_id).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(member)))
}

async fn kick(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, target)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    commands::kick(&state, user.id, id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_role(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, target)): Path<(Uuid, Uuid)>,
    Json(req): Json<SetRoleRequest>,
) -> ApiResult<axum::Json<Member>> {
    Ok(axum::Json(
        commands::set_role(&state, user.id, id, target, req.role).await?,
    ))
}
