//! Who a socket is: a token on the upgrade (`Authorization`, or `?token=`), or, for browsers
//! (which cannot set headers on a WebSocket, and whose `?token=` would end up in access
//! logs), an `auth` frame as the socket's first frame.
//!
//! A socket opened without a token holds nothing until its `auth` frame: no session, no
//! subscription, no presence. Anything else first, a bad token, or silence for
//! `NATTER_WS_AUTH_TIMEOUT_MS` closes it with 4001 and a reason.

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message};
use axum::http::request::Parts;
use futures::{Sink, SinkExt, Stream, StreamExt};
use natter_schemas::frames::close_code;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{AuthUser, presented_token};
use crate::error::ApiError;
use crate::state::AppState;
use crate::ws::writer::WRITE_TIMEOUT;

/// What the upgrade request says of its caller.
pub enum Credential {
    /// A token came with the request (good or not).
    Token(Result<AuthUser, ApiError>),
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
            Some(token) => Self::Token(AuthUser::from_token(state, &token).await),
            None => Self::FirstFrame,
        })
    }
}

/// The first frame of a socket opened without a token.
#[derive(Deserialize)]
struct AuthFrame {
    #[serde(rename = "type")]
    kind: String,
    token: String,
    #[serde(default)]
    id: Option<Value>,
}

/// Reads the socket's `auth` frame and checks its token: the caller, once the reply (for a
/// frame with an `id`) is written; `None` once the socket is closed with the reason.
pub async fn authenticate<S, R>(state: &AppState, sink: &mut S, stream: &mut R) -> Option<AuthUser>
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
            () = state.shutdown().wait() => {
                close(sink, close_code::GOING_AWAY, "the server is shutting down").await;
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
    let frame = match serde_json::from_str::<AuthFrame>(text.as_str()) {
        Ok(frame) if frame.kind == "auth" => frame,
        _ => {
            close(
                sink,
                close_code::UNAUTHORIZED,
                "the first frame must be {\"type\":\"auth\",\"token\"} on a socket opened without a token",
            )
            .await;
            return None;
        }
    };
    let user = match AuthUser::from_token(state, &frame.token).await {
        Ok(user) => user,
        Err(e) => {
            close(sink, close_code::UNAUTHORIZED, &e.0.message).await;
            return None;
        }
    };
    if let Some(id) = frame.id {
        let reply =
            json!({"type": "reply", "id": id, "ok": true, "data": {"expires_at": user.exp}});
        let sent = tokio::time::timeout(
            WRITE_TIMEOUT,
            sink.send(Message::Text(reply.to_string().into())),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            return None;
        }
    }
    Some(user)
}

/// Closes the socket with `code` and `reason` (cut to the 123 bytes a close frame holds).
pub async fn close<S>(sink: &mut S, code: u16, reason: &str)
where
    S: Sink<Message> + Unpin,
{
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: reason[..end].into(),
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
}
