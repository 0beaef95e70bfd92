//! Presence frames: choosing one's own presence, following others'.

use natter_schemas::frames::PresenceStatus;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::ws::ctx::SessionCtx;
use natter_realtime::wire::to_value;

pub(crate) async fn presence_set(
    ctx: &SessionCtx,
    status: PresenceStatus,
    text: Option<&str>,
) -> ApiResult<Option<Value>> {
    if status == PresenceStatus::Offline {
        return Err(ApiError::invalid(
            "status",
            "choose online, away, busy or invisible (invisible looks offline to others)",
        ));
    }
    let text = text
        .map(|t| natter_actions::validate::text("text", t, 0, 140))
        .transpose()?;
    let now = ctx
        .state
        .presence()
        .set(ctx.info.user, status, text.as_deref())
        .await?;
    Ok(Some(to_value(&now)))
}

/// Most users one `presence_subscribe` names, and one socket follows.
const MAX_FOLLOW_PER_FRAME: usize = 100;
const MAX_FOLLOWED: usize = 500;

pub(crate) async fn presence_subscribe(
    ctx: &mut SessionCtx,
    mut users: Vec<Uuid>,
) -> ApiResult<Option<Value>> {
    users.sort_unstable();
    users.dedup();
    if users.len() > MAX_FOLLOW_PER_FRAME {
        return Err(ApiError::invalid(
            "user_ids",
            format!("at most {MAX_FOLLOW_PER_FRAME} users per presence_subscribe"),
        ));
    }
    let new = users.iter().filter(|u| !ctx.followed.contains(u)).count();
    if ctx.followed.len() + new > MAX_FOLLOWED {
        return Err(ApiError::invalid(
            "user_ids",
            format!("a socket follows at most {MAX_FOLLOWED} users"),
        ));
    }
    // Only those the caller shares a room with (others look offline and are not followed).
    let visible = ctx
        .state
        .presence()
        .visible_to(ctx.state.actions().pool(), ctx.info.user, &users)
        .await?;
    // Followed again even when followed before: the hub drops a follow once the two users
    // no longer share a room, and they may share one again.
    for &user in &visible {
        ctx.followed.insert(user);
        ctx.state
            .actions()
            .hub()
            .follow_presence(user, ctx.handle.clone())
            .await?;
    }
    // Subscribed first, read second: a change in between arrives as a frame after the reply.
    let now = ctx.state.presence().read_shown(&users, &visible).await?;
    Ok(Some(serde_json::json!({ "users": now })))
}
