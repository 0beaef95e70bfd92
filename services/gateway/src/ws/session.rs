//! One socket: a reader that parses and handles client frames (here), and a writer that owns
//! the socket's sink and its bounded outbound queue, and merges replayed and live events per
//! room (`writer.rs`).
//!
//! Both halves are written over `Sink`/`Stream` of axum WebSocket messages, so a test can drive a
//! session with channels.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use futures::{Sink, Stream, StreamExt};
use natter_schemas::frames::{ServerFrame, close_code};
use tokio::sync::{mpsc, watch};

use super::writer::SHUTTING_DOWN;
use crate::state::AppState;
use crate::ws::ctx::{SessionCtx, SessionInfo};
use crate::ws::frames::{Handled, handle_text};
use crate::ws::sends::Sends;
use crate::ws::writer::{WRITE_TIMEOUT, WriterLimits, write_loop};
use natter_realtime::hub::{CloseReason, Outbound, SessionHandle, encode};

/// Runs a socket until the client leaves, the server shuts down, the token expires, or the
/// socket is closed for a reason (slow, too big a frame).
pub async fn run<S, R>(state: AppState, info: SessionInfo, sink: S, mut stream: R)
where
    S: Sink<Message> + Unpin + Send + 'static,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin + Send,
{
    let config = state.config().clone();
    let (tx, rx) = mpsc::channel(config.outbound_queue.max(1));
    let (kill_tx, kill_rx) = watch::channel(None::<CloseReason>);
    let kill = Arc::new(kill_tx);
    let handle = SessionHandle::new((info.id, info.user), info.token, tx.clone(), kill.clone());
    state.actions().hub().session_opened();

    let hello = ServerFrame::Hello {
        user_id: info.user,
        session_id: info.id,
        heartbeat_ms: config.heartbeat_ms,
        epoch: state.actions().bus().epoch().to_owned(),
    };
    let _ = tx.send(Outbound::Frame(encode(&hello))).await;
    // Whom the user blocks, then changes to it as they come.
    load_blocks(&state, &handle).await;
    // The user's key, so that their first send seals without a round trip.
    if let Err(e) = state
        .actions()
        .vault()
        .keys()
        .ensure_user_key(info.user)
        .await
    {
        tracing::warn!(user = %info.user, error = %e, "cannot read the user's key");
    }
    if let Err(e) = Box::pin(state.actions().hub().subscribe_user(handle.clone())).await {
        tracing::warn!(error = %e, "cannot subscribe to user notices");
    }
    Box::pin(state.presence().connected(info.user, info.id)).await;

    let heartbeat = Duration::from_millis(config.heartbeat_ms.max(100));
    let (token_exp, token_exp_rx) = watch::channel(info.token_exp);
    let limits = WriterLimits {
        heartbeat,
        token_exp: token_exp_rx,
        replay_buffer: config.outbound_queue.max(64) * 8,
    };
    let mut writer = tokio::spawn(write_loop(
        sink,
        rx,
        kill.clone(),
        limits,
        state.ops().shutdown().clone(),
    ));

    let acks = tokio_util::task::TaskTracker::new();
    let sends = Sends::new(state.clone(), info.user, tx.clone(), acks.clone());
    let mut ctx = SessionCtx {
        state: state.clone(),
        info,
        handle: handle.clone(),
        tx,
        rooms: HashSet::new(),
        followed: HashSet::new(),
        token_exp,
        acks,
        sends: Some(sends),
        kill: kill_rx.clone(),
    };
    let shutting_down = read_loop(&mut ctx, &mut stream, kill_rx, heartbeat * 3).await;
    // Every send read so far gets its reply before the socket closes, for up to ACK_DRAIN
    // (each is bounded by the send bound); then the rest are dropped, never published after the
    // socket is gone. Frames not answered are resent by the client with the same
    // `client_msg_id`.
    let mut sending = ctx.sends.take().and_then(Sends::close);
    let drained = tokio::time::timeout(ACK_DRAIN, async {
        if let Some(task) = sending.as_mut() {
            let _ = task.await;
        }
        ctx.acks.close();
        ctx.acks.wait().await;
    })
    .await;
    if drained.is_err()
        && let Some(task) = sending
    {
        task.abort();
    }

    // Clean up: stop typing, leave every room, stop notices, let the writer finish what is
    // queued. Boxed, like the setup above: only the state of what is running takes room in
    // an idle socket's task.
    Box::pin(async {
        state.typing().session_closed(ctx.info.id).await;
        for followed in std::mem::take(&mut ctx.followed) {
            state
                .actions()
                .hub()
                .unfollow_presence(followed, ctx.info.id)
                .await;
        }
        for room in std::mem::take(&mut ctx.rooms) {
            state
                .actions()
                .hub()
                .unsubscribe_room(room, ctx.info.id)
                .await;
        }
        state
            .actions()
            .hub()
            .unsubscribe_user(ctx.info.user, ctx.info.id)
            .await;
    })
    .await;
    if shutting_down {
        handle.close(close_code::GOING_AWAY, SHUTTING_DOWN);
    } else {
        handle.close(1000, "bye");
    }
    let (info_user, info_id) = (ctx.info.user, ctx.info.id);
    drop(ctx);
    drop(handle);
    // The writer flushes and closes; a peer that stopped reading cannot hold it forever.
    if tokio::time::timeout(WRITE_TIMEOUT * 2, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    // The closing handshake: read (and drop) what the client still sends until its Close
    // frame. Closing the TCP connection with its frames unread would make the kernel reset
    // it, and a client still sending could lose our Close frame (and its code) to the reset.
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    state.actions().hub().session_closed();
    state.presence().disconnected(info_user, info_id).await;
}

/// Loads whom the socket's user blocks; on failure the socket carries on with what it had
/// (logged).
async fn load_blocks(state: &AppState, handle: &SessionHandle) {
    match natter_projections::history::queries::blocks_of(state.actions().pool(), handle.user).await
    {
        Ok(blocks) => handle
            .blocked
            .replace(blocks.into_iter().map(|b| b.user_id)),
        Err(e) => tracing::warn!(user = %handle.user, error = %e, "cannot read whom a user blocks"),
    }
}

/// How long a closed socket waits for the client's Close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// Longest a closing session waits for the replies it owes.
const ACK_DRAIN: Duration = Duration::from_secs(5);

/// Reads and handles frames until the socket is done; true when it stopped because the
/// server is shutting down.
async fn read_loop<R>(
    ctx: &mut SessionCtx,
    stream: &mut R,
    mut kill: watch::Receiver<Option<CloseReason>>,
    idle: Duration,
) -> bool
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let shutdown = ctx.state.ops().shutdown().clone();
    // A token ended while the socket was opening may have been accepted from a cached
    // standing, and its end delivered before the socket listened for it: checked once more
    // when no cached standing can be older than the end.
    let recheck = tokio::time::sleep(ctx.state.actions().auth().revocations.bound());
    tokio::pin!(recheck);
    let mut rechecked = false;
    loop {
        let next = tokio::select! {
            () = async { let _ = kill.wait_for(Option::is_some).await; } => return false,
            () = shutdown.wait() => return true,
            () = &mut recheck, if !rechecked => {
                rechecked = true;
                let token = ctx.handle.token();
                if let Err(e) = ctx.state.actions().auth().revocations.check(ctx.info.user, token).await
                    && e.0.code == natter_schemas::ErrorCode::Unauthorized
                {
                    ctx.handle.close(close_code::UNAUTHORIZED, &e.0.message);
                    return false;
                }
                continue;
            }
            next = tokio::time::timeout(idle, stream.next()) => next,
        };
        let message = match next {
            Err(_) => {
                ctx.handle.close(
                    close_code::GOING_AWAY,
                    "no frames within the heartbeat interval",
                );
                return false;
            }
            Ok(None) => return false,
            Ok(Some(Err(e))) => {
                use tokio_tungstenite::tungstenite::Error as WsError;
                // By the error's kind (axum wraps tungstenite's), not by its text.
                match e.into_inner().downcast::<WsError>().map(|e| *e) {
                    Ok(WsError::Capacity(_)) => {
                        ctx.handle.close(close_code::TOO_BIG, "frame too large");
                    }
                    Ok(WsError::Utf8(_)) => {
                        ctx.handle
                            .close(close_code::INVALID_PAYLOAD, "text frames must be UTF-8");
                    }
                    Ok(e) => tracing::debug!(error = %e, "socket read error"),
                    Err(e) => tracing::debug!(error = %e, "socket read error"),
                }
                return false;
            }
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => {
                // Boxed: a frame's handler is a large future (every command's state), and
                // held inline it would sit in every idle socket's task.
                if let Handled::Close = Box::pin(handle_text(ctx, text.as_str())).await {
                    return false;
                }
            }
            Message::Binary(_) => {
                ctx.send(&ServerFrame::Error {
                    error: natter_schemas::ErrorDetail::invalid(
                        "frame",
                        "binary frames are not supported: send JSON text frames",
                    ),
                })
                .await;
            }
            Message::Close(_) => return false,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}
