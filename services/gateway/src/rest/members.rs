//! Members and roles: list, invite, kick, set role.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use natter_projections::history::queries;
use natter_schemas::model::Member;
use natter_schemas::rest::{BanList, InviteRequest, MemberList, MuteRequest, SetRoleRequest};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::HttpResult;
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path};
use natter_actions::Actions;
use natter_actions::commands;

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
            "/v1/rooms/{id}/members/{user_id}/mute",
            put(mute),
            Doc::put("Mute a member for some minutes: they cannot send (owner or admin)")
                .body::<MuteRequest>()
                .ok::<Member>(200, "the member, with `muted_until`"),
        )
        .route(
            "/v1/rooms/{id}/members/{user_id}/mute",
            delete(unmute),
            Doc::delete("Unmute a member (owner or admin)").empty(204, "unmuted"),
        )
        .route(
            "/v1/rooms/{id}/bans",
            get(bans),
            Doc::get("A room's bans (owner or admin)").ok::<BanList>(200, "bans"),
        )
        .route(
            "/v1/rooms/{id}/bans/{user_id}",
            put(ban),
            Doc::put("Ban a user: removed, and unable to join again (owner or admin)")
                .empty(204, "banned"),
        )
        .route(
            "/v1/rooms/{id}/bans/{user_id}",
            delete(unban),
            Doc::delete("Lift a ban (owner or admin)").empty(204, "unbanned"),
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
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<MemberList>> {
    commands::readable_room(&state, id, user.id).await?;
    let members = queries::members(state.pool(), id).await?;
    Ok(axum::Json(MemberList { members }))
}

async fn invite(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<InviteRequest>,
) -> HttpResult<(StatusCode, axum::Json<Member>)> {
    let (member, added) = commands::invite(&state, user.id, id, req.user_id).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(member)))
}

async fn kick(
    State(state): State<Actions>,
    user: AuthUser,
    Path((id, target)): Path<(Uuid, Uuid)>,
) -> HttpResult<StatusCode> {
    commands::kick(&state, user.id, id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_role(
    State(state): State<Actions>,
    user: AuthUser,
    Path((id, target)): Path<(Uuid, Uuid)>,
    Json(req): Json<SetRoleRequest>,
) -> HttpResult<axum::Json<Member>> {
    Ok(axum::Json(
        commands::set_role(&state, user.id, id, target, req.role).await?,
    ))
}

async fn mute(
    State(state): State<Actions>,
    user: AuthUser,
    Path((id, member)): Path<(Uuid, Uuid)>,
    Json(req): Json<MuteRequest>,
) -> HttpResult<axum::Json<Member>> {
    Ok(axum::Json(
        commands::mute(&state, user.id, id, member, req.minutes).await?,
    ))
}

async fn unmute(
    State(state): State<Actions>,
    user: AuthUser,
    Path((id, member)): Path<(Uuid, Uuid)>,
) -> HttpResult<StatusCode> {
    commands::unmute(&state, user.id, id, member).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn bans(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<BanList>> {
    let access = commands::member_room(&state, id, user.id).await?;
    commands::admin_of(&access)?;
    Ok(axum::Json(BanList {
        bans: queries::bans(state.pool(), id).await?,
    }))
}

async fn ban(
    State(state): State<Actions>,
    user: AuthUser,
    Path((id, target)): Path<(Uuid, Uuid)>,
) -> HttpResult<StatusCode> {
    commands::ban(&state, user.id, id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unban(
    State(state): State<Actions>,
    user: AuthUser,
    Path((id, target)): Path<(Uuid, Uuid)>,
) -> HttpResult<StatusCode> {
    commands::unban(&state, user.id, id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}
