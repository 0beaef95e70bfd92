//! `GET /v1/ws`: the WebSocket endpoint.
//!
//! - [`handshake`]: who the socket is (a token on the upgrade, or an `auth` first frame).
//! - [`session`]: one socket's reader, writer and outbound queue.
//! - [`frames`]: client frames and their replies; [`subscribe`] and [`presence`] handle those
//!   frames.

mod ctx;
pub mod frames;
pub mod handshake;
mod presence;
mod sends;
pub mod session;
mod subscribe;
mod writer;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use uuid::Uuid;

use crate::error::{ApiError, Refusal};
use crate::state::AppState;
use handshake::Credential;
use natter_actions::auth::Caller;

/// Upgrades a request. With a token (bearer header or `?token=`), a bad or expired one is
/// refused with 401 before the upgrade; without one, the socket's first frame must be `auth`
/// ([`handshake`]).
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: crate::net::ClientAddr,
    credential: Credential,
    ws: WebSocketUpgrade,
) -> Response {
    let allowed = &state.config().allowed_origins;
    if let Some(origin) = headers.get(header::ORIGIN)
        && !allowed.is_empty()
        && !allowed
            .iter()
            .any(|a| a.trim_end_matches('/').as_bytes() == origin.as_bytes())
    {
        return Refusal(ApiError::forbidden(
            "this origin may not open WebSockets here",
        ))
        .into_response();
    }
    let user = match credential {
        Credential::Token(Ok(user)) => Some(user),
        Credential::Token(Err(e)) => return Refusal(e).into_response(),
        Credential::FirstFrame => None,
    };
    if let Some(user) = user
        && let Err(e) = admit_user(&state, &user).await
    {
        return Refusal(e).into_response();
    }
    // Behind a trusted proxy the TCP connection counted as the proxy's: the client's own
    // sockets are counted here, per forwarded address.
    let forwarded = if client.forwarded {
        match state.ops().conns().admit_forwarded(client.ip) {
            Ok(permit) => Some(permit),
            Err(_) => {
                return Refusal(ApiError::rate_limited(
                    "too many connections from this address; close some first",
                    1000,
                ))
                .into_response();
            }
        }
    } else {
        None
    };
    let max = state.config().max_frame_bytes;
    // Explicit buffer sizes: the defaults cost over 100 KB per socket. The read buffer is
    // allocated for every socket (2 KiB: clients send small frames; a larger one takes more
    // reads); the write buffer grows only while writing, and 4 KiB lets a burst of events
    // leave in one write.
    ws.max_frame_size(max)
        .max_message_size(max)
        .read_buffer_size(2 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(max.max(64 * 1024) * 4)
        .on_upgrade(move |socket| async move {
            let _forwarded = forwarded;
            let (mut sink, mut stream) = socket.split();
            let user = match user {
                Some(user) => user,
                None => {
                    let Some(user) = handshake::authenticate(&state, &mut sink, &mut stream).await
                    else {
                        return;
                    };
                    user
                }
            };
            let info = ctx::SessionInfo {
                id: Uuid::now_v7(),
                user: user.id,
                token_exp: user.exp,
                token: user.token,
            };
            // Tracked, so that the drain waits for every session's end (cleanup included).
            let sessions = state.ops().sessions().clone();
            sessions
                .track_future(session::run(state, info, sink, stream))
                .await;
        })
}

/// Refuses a user who holds as many sockets on this gateway as they may.
pub(super) async fn admit_user(state: &AppState, user: &Caller) -> Result<(), ApiError> {
    let max = state.config().max_connections_per_user;
    if state.actions().hub().user_sessions(user.id).await >= max {
        return Err(ApiError::rate_limited(
            format!("at most {max} connections per user: close one first"),
            1000,
        ));
    }
    Ok(())
}
