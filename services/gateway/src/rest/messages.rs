//! History and sending.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use natter_projections::history::queries::{self, Page};
use natter_schemas::frames::SendReply;
use natter_schemas::model::Message;
use natter_schemas::rest::{HistoryPage, SendMessageRequest};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::commands;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path, Query};
use crate::state::AppState;
use crate::validate;

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
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<axum::Json<HistoryPage>> {
    let limit = validate::limit(q.limit)?;
    let page = match (q.before, q.after, q.around) {
        (None, None, None) => Page::Latest,
        (Some(s), None, None) => Page::Before(s),
        (None, Some(s), None) => Page::After(s),
        (None, None, Some(s)) => Page::Around(s),
        _ => {
            return Err(ApiError::invalid(
                "before",
                "use at most one of before, after, around",
            ));
        }
    };
    if let Some(seq) = q.min_seq {
        state.projected(seq).await?;
    }
    // The access check and the page are read at the same time (two pooled connections): the
    // page is only returned when the check passes.
    let (access, page) = tokio::join!(
        commands::readable_room(&state, id, user.id),
        queries::history(state.pool(), id, page, limit)
    );
    access?;
    Ok(axum::Json(page?))
}

async fn send(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<SendMessageRequest>,
) -> ApiResult<(StatusCode, axum::Json<SendReply>)> {
    let reply = commands::send_message(&state, user.id, id, &req).await?;
    Ok((StatusCode::CREATED, axum::Json(reply)))
}

async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Message>> {
    let message = queries::message(state.pool(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    commands::readable_room(&state, message.room_id, user.id)
        .await
        .map_err(|_| ApiError::not_found("message"))?;
    Ok(axum::Json(message))
}
