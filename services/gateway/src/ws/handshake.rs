//! Who a socket is: a token on the upgrade (`Authorization`, or `?token=`), or, for browsers
//! (which cannot set headers on a WebSocket, and whose `?token=` would end up in access
//! logs), an `auth` frame as the socket's first frame.
//!
//! A socket opened without a token holds nothing until its `auth` frame: no session, no
//! subscription, no presence. Anything else first, a bad token, or silence for
//! `NATTER_WS_AUTH_TIMEOUT_MS` closes it with 4001 and a reason.

use axum::extract::FromRequestParts;
use axum::extract::ws::Message;
use axum::http::request::Parts;
use futures::{Sink, SinkExt, Stream, StreamExt};
use natter_schemas::frames::{ClientFrame, RequestId, ServerFrame, close_code};
use serde_json::{Value, json};

use crate::auth::presented_token;
use crate::error::ApiError;
use crate::state::AppState;
use crate::ws::writer::WRITE_TIMEOUT;
use natter_actions::auth::Caller;
use natter_realtime::wire::encode;

/// What the upgrade request says of its caller.
pub enum Credential {
    /// A token came with the request (good or not).
    Token(Result<Caller, ApiError>),
    /// None did: the first frame must carry it.
    FirstFrame,
}

impl FromRequestParts<AppState> for Credential {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(match presented_token(parts) {
            Some(token) => Self::Token(Caller::from_token(state.actions(), &token).await),
            None => Self::FirstFrame,
        })
    }
}

/// Reads the socket's `auth` frame, checks its token and admits the caller (who may hold no
/// more sockets than allowed): the caller, once the reply (for a frame with an `id`) is
/// written; `None` once the socket is closed with the reason (4001, or 4029 when admission is
/// refused: no `ok` is sent first).
pub async fn authenticate<S, R>(state: &AppState, sink: &mut S, stream: &mut R) -> Option<Caller>
where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let wait = state.config().ws_auth_timeout();
    let deadline = tokio::time::Instant::now() + wait;
    let text = loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = tokio::time::sleep_until(deadline) => {
                close(sink, close_code::UNAUTHORIZED, "no auth frame in time: send {\"type\":\"auth\",\"token\"} first").await;
                return None;
            }
            () = state.ops().shutdown().wait() => {
                close(sink, close_code::GOING_AWAY, super::writer::SHUTTING_DOWN).await;
                return None;
            }
        };
        match next {
            Some(Ok(Message::Text(text))) => break text,
            // Control frames are answered by the socket itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Binary(_))) => {
                close(
                    sink,
                    close_code::UNAUTHORIZED,
                    "the first frame must be a text frame: {\"type\":\"auth\",\"token\"}",
                )
                .await;
                return None;
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
        }
    };
    // The frame as every other frame is read: its `id` checked, then its type.
    let value = serde_json::from_str::<Value>(text.as_str()).unwrap_or_default();
    let id = match value.get("id").filter(|id| !id.is_null()) {
        None => Ok(None),
        Some(id) => serde_json::from_value::<RequestId>(id.clone()).map(Some),
    };
    let (token, id) = match (serde_json::from_value::<ClientFrame>(value), id) {
        (Ok(ClientFrame::Auth { token }), Ok(id)) => (token, id),
        _ => {
            close(
                sink,
                close_code::UNAUTHORIZED,
                "the first frame must be {\"type\":\"auth\",\"token\"} (with a string or integer id, if any) on a socket opened without a token",
            )
            .await;
            return None;
        }
    };
    let user = match Caller::from_token(state.actions(), &token).await {
        Ok(user) => user,
        Err(e) => {
            close(sink, close_code::UNAUTHORIZED, &e.0.message).await;
            return None;
        }
    };
    if let Err(e) = super::admit_user(state, &user).await {
        close(sink, close_code::TOO_MANY_CONNECTIONS, &e.0.message).await;
        return None;
    }
    if let Some(id) = id {
        let reply = ServerFrame::Reply {
            id,
            ok: true,
            data: Some(json!({"expires_at": user.exp})),
            error: None,
        };
        let sent =
            tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Text(encode(&reply)))).await;
        if !matches!(sent, Ok(Ok(()))) {
            return None;
        }
    }
    Some(user)
}

/// Closes the socket with `code` and `reason`.
pub async fn close<S>(sink: &mut S, code: u16, reason: &str)
where
    S: Sink<Message> + Unpin,
{
    let frame = super::writer::close_frame(code, reason);
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
}
