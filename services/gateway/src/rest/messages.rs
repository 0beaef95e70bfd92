//! History and sending.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use natter_projections::history::queries::{self, Page};
use natter_schemas::frames::SendReply;
use natter_schemas::model::Message;
use natter_schemas::rest::{
    ChangeReply, EditHistory, EditMessageRequest, HistoryPage, SendMessageRequest, ThreadPage,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path, Query};
use natter_actions::Actions;
use natter_actions::commands;
use natter_actions::validate;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/rooms/{id}/messages",
            get(history),
            Doc::get("A page of history, ascending seq; the newest page by default")
                .query("before", "integer", "messages with seq < before")
                .query("after", "integer", "messages with seq > after")
                .query("around", "integer", "messages around this seq")
                .query("limit", "integer", "1 to 100, default 50")
                .query("min_seq", "integer", "wait (bounded) until the read model has this seq")
                .ok::<HistoryPage>(200, "the page"),
        )
        .route(
            "/v1/rooms/{id}/messages",
            post(send),
            Doc::post("Send a message (same as the WebSocket `send`); retries with the same client_msg_id answer the original")
                .body::<SendMessageRequest>()
                .ok::<SendReply>(201, "accepted into the log"),
        )
        .route(
            "/v1/messages/{id}",
            get(show),
            Doc::get("One message").ok::<Message>(200, "the message"),
        )
        .route(
            "/v1/messages/{id}",
            patch(edit),
            Doc::patch("Edit one's own message (mentions are resolved again)")
                .body::<EditMessageRequest>()
                .ok::<ChangeReply>(200, "edited, or `changed: false` when the body was already this"),
        )
        .route(
            "/v1/messages/{id}",
            delete(remove),
            Doc::delete("Delete a message (its author, or a room owner or admin); it keeps its place with `body: null`")
                .ok::<ChangeReply>(200, "deleted, or `changed: false` when it already was"),
        )
        .route(
            "/v1/messages/{id}/edits",
            get(edits),
            Doc::get("A message's versions, oldest first (empty once deleted)")
                .ok::<EditHistory>(200, "the versions"),
        )
        .route(
            "/v1/messages/{id}/thread",
            get(thread),
            Doc::get("A thread: its root and a page of replies, ascending seq")
                .query("after", "integer", "replies with seq > after")
                .query("limit", "integer", "1 to 100, default 50")
                .query("min_seq", "integer", "wait (bounded) until the read model has this seq")
                .ok::<ThreadPage>(200, "the thread"),
        )
        .route(
            "/v1/messages/{id}/reactions/{emoji}",
            put(react_on),
            Doc::put("Add one's reaction (an emoji, or a :shortcode:)")
                .ok::<ChangeReply>(200, "added, or `changed: false` when it already was"),
        )
        .route(
            "/v1/messages/{id}/reactions/{emoji}",
            delete(react_off),
            Doc::delete("Remove one's reaction")
                .ok::<ChangeReply>(200, "removed, or `changed: false` when there was none"),
        )
}

#[derive(Deserialize)]
struct HistoryQuery {
    before: Option<u64>,
    after: Option<u64>,
    around: Option<u64>,
    limit: Option<usize>,
    min_seq: Option<u64>,
}

async fn history(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<HistoryQuery>,
) -> HttpResult<axum::Json<HistoryPage>> {
    let limit = validate::limit(q.limit)?;
    let page = match (q.before, q.after, q.around) {
        (None, None, None) => Page::Latest,
        (Some(s), None, None) => Page::Before(s),
        (None, Some(s), None) => Page::After(s),
        (None, None, Some(s)) => Page::Around(s),
        _ => {
            return Err(
                ApiError::invalid("before", "use at most one of before, after, around").into(),
            );
        }
    };
    if let Some(seq) = q.min_seq {
        state.min_seq_reachable(seq).await?;
        state.projected(seq).await?;
    }
    // The access check and the page are read at the same time (two pooled connections): the
    // page is only returned when the check passes.
    let (access, page) = tokio::join!(
        commands::readable_room(&state, id, user.id),
        queries::history(state.pool(), id, state.viewer(user.id), page, limit)
    );
    access?;
    Ok(axum::Json(page?))
}

async fn send(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<SendMessageRequest>,
) -> HttpResult<(StatusCode, axum::Json<SendReply>)> {
    let reply = commands::send_message(&state, user.id, id, &req).await?;
    Ok((StatusCode::CREATED, axum::Json(reply)))
}

/// One message, when the caller may read its room (else `not_found`, as for no message).
async fn readable_message(state: &Actions, id: Uuid, viewer: Uuid) -> HttpResult<Message> {
    let message = queries::message(state.pool(), id, state.viewer(viewer))
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    // Not allowed to read the room looks like no message; a failure stays what it is.
    commands::readable_room(state, message.room_id, viewer)
        .await
        .map_err(|e| match e.code() {
            natter_schemas::ErrorCode::NotFound | natter_schemas::ErrorCode::Forbidden => {
                ApiError::not_found("message")
            }
            _ => e,
        })?;
    Ok(message)
}

async fn show(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<Message>> {
    Ok(axum::Json(readable_message(&state, id, user.id).await?))
}

async fn edit(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<EditMessageRequest>,
) -> HttpResult<axum::Json<ChangeReply>> {
    Ok(axum::Json(
        commands::messages::edit(
            &state,
            user.id,
            id,
            &req.body,
            req.format,
            req.encrypted.as_ref(),
        )
        .await?,
    ))
}

async fn remove(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<ChangeReply>> {
    Ok(axum::Json(
        commands::messages::delete(&state, user.id, id).await?,
    ))
}

async fn edits(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> HttpResult<axum::Json<EditHistory>> {
    readable_message(&state, id, user.id).await?;
    Ok(axum::Json(EditHistory {
        message_id: id,
        versions: queries::versions(state.pool(), id).await?,
    }))
}

#[derive(Deserialize)]
struct ThreadQuery {
    after: Option<u64>,
    limit: Option<usize>,
    min_seq: Option<u64>,
}

async fn thread(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ThreadQuery>,
) -> HttpResult<axum::Json<ThreadPage>> {
    let limit = validate::limit(q.limit)?;
    if let Some(seq) = q.min_seq {
        state.min_seq_reachable(seq).await?;
        state.projected(seq).await?;
    }
    let root = readable_message(&state, id, user.id).await?;
    if root.thread_root_id.is_some() {
        return Err(ApiError::invalid(
            "id",
            "this message is a reply: read its thread_root_id's thread",
        )
        .into());
    }
    let (replies, has_more) = queries::thread_replies(
        state.pool(),
        id,
        state.viewer(user.id),
        q.after.unwrap_or(0),
        limit,
    )
    .await?;
    Ok(axum::Json(ThreadPage {
        root,
        replies,
        has_more,
    }))
}

async fn react_on(
    State(state): State<Actions>,
    user: AuthUser,
    Path((id, emoji)): Path<(Uuid, String)>,
) -> HttpResult<axum::Json<ChangeReply>> {
    Ok(axum::Json(
        commands::messages::react(&state, user.id, id, &emoji, true).await?,
    ))
}

async fn react_off(
    State(state): State<Actions>,
    user: AuthUser,
    Path((id, emoji)): Path<(Uuid, String)>,
) -> HttpResult<axum::Json<ChangeReply>> {
    Ok(axum::Json(
        commands::messages::react(&state, user.id, id, &emoji, false).await?,
    ))
}
