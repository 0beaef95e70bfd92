//! One socket: a reader that parses and handles client frames, and a writer that owns the
//! socket's sink and its bounded outbound queue, and merges replayed and live events per room.
//!
//! Both halves are written over `Sink`/`Stream` of axum WebSocket messages, so a test can drive a
//! session with channels.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::{Sink, SinkExt, Stream, StreamExt};
use natter_schemas::frames::{ServerFrame, close_code};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use uuid::Uuid;

use crate::hub::{CloseReason, Outbound, ReplayEnd, SessionHandle, encode};
use crate::state::AppState;
use crate::ws::frames::{Handled, handle_text};

/// What a session knows about itself.
pub struct SessionInfo {
    pub id: Uuid,
    pub user: Uuid,
    /// Token expiry (seconds since the epoch): the socket closes with 4001 then.
    pub token_exp: u64,
}

/// Per-socket state the frame handlers use.
pub struct SessionCtx {
    pub state: AppState,
    pub info: SessionInfo,
    pub handle: SessionHandle,
    pub tx: mpsc::Sender<Outbound>,
    /// Rooms this socket is subscribed to.
    pub rooms: HashSet<Uuid>,
    /// Users whose presence this socket follows.
    pub followed: HashSet<Uuid>,
    /// When the socket's token expires (seconds since the epoch); an `auth` frame moves it.
    pub token_exp: watch::Sender<u64>,
    kill: watch::Receiver<Option<CloseReason>>,
}

impl SessionCtx {
    /// Queues a frame for this socket, waiting for room in the queue (replies apply
    /// back-pressure to the client's own requests instead of dropping them), unless the
    /// session is closing.
    pub async fn send(&self, frame: &ServerFrame) {
        self.queue(Outbound::Frame(encode(frame))).await;
    }

    /// Queues an item, unless the session is closing.
    pub async fn queue(&self, item: Outbound) {
        let mut kill = self.kill.clone();
        tokio::select! {
            _ = self.tx.send(item) => {}
            () = async { let _ = kill.wait_for(Option::is_some).await; } => {}
        }
    }
}

/// Runs a socket until the client leaves, the server shuts down, the token expires, or the
/// socket is closed for a reason (slow, too big a frame).
pub async fn run<S, R>(state: AppState, info: SessionInfo, sink: S, stream: R)
where
    S: Sink<Message> + Unpin + Send + 'static,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin + Send,
{
    let config = state.config().clone();
    let (tx, rx) = mpsc::channel(config.outbound_queue.max(1));
    let (kill_tx, kill_rx) = watch::channel(None::<CloseReason>);
    let kill = Arc::new(kill_tx);
    let handle = SessionHandle::new(info.id, info.user, tx.clone(), kill.clone());
    state.hub().session_opened();

    let hello = ServerFrame::Hello {
        user_id: info.user,
        session_id: info.id,
        heartbeat_ms: config.heartbeat_ms,
        epoch: state.bus().epoch().to_owned(),
    };
    let _ = tx.send(Outbound::Frame(encode(&hello))).await;
    if let Err(e) = Box::pin(state.hub().subscribe_user(handle.clone())).await {
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
        state.shutdown().clone(),
    ));

    let mut ctx = SessionCtx {
        state: state.clone(),
        info,
        handle: handle.clone(),
        tx,
        rooms: HashSet::new(),
        followed: HashSet::new(),
        token_exp,
        kill: kill_rx.clone(),
    };
    read_loop(&mut ctx, stream, kill_rx, heartbeat * 3).await;

    // Clean up: stop typing, leave every room, stop notices, let the writer finish what is
    // queued. Boxed, like the setup above: only the state of what is running takes room in
    // an idle socket's task.
    Box::pin(async {
        state.typing().session_closed(ctx.info.id).await;
        for followed in std::mem::take(&mut ctx.followed) {
            state.hub().unfollow_presence(followed, ctx.info.id).await;
        }
        for room in std::mem::take(&mut ctx.rooms) {
            state.hub().unsubscribe_room(room, ctx.info.id).await;
        }
        state
            .hub()
            .unsubscribe_user(ctx.info.user, ctx.info.id)
            .await;
    })
    .await;
    handle.close(1000, "bye");
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
    state.hub().session_closed();
    state.presence().disconnected(info_user, info_id).await;
}

async fn read_loop<R>(
    ctx: &mut SessionCtx,
    mut stream: R,
    mut kill: watch::Receiver<Option<CloseReason>>,
    idle: Duration,
) where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    loop {
        let next = tokio::select! {
            () = async { let _ = kill.wait_for(Option::is_some).await; } => return,
            next = tokio::time::timeout(idle, stream.next()) => next,
        };
        let message = match next {
            Err(_) => {
                ctx.handle.close(
                    close_code::GOING_AWAY,
                    "no frames within the heartbeat interval",
                );
                return;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                let text = e.to_string();
                if text.contains("too long")
                    || text.contains("Space limit")
                    || text.contains("capacity")
                {
                    ctx.handle.close(close_code::TOO_BIG, "frame too large");
                } else if text.contains("UTF-8") {
                    ctx.handle
                        .close(close_code::INVALID_PAYLOAD, "text frames must be UTF-8");
                } else {
                    tracing::debug!(error = %text, "socket read error");
                }
                return;
            }
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => {
                // Boxed: a frame's handler is a large future (every command's state), and
                // held inline it would sit in every idle socket's task.
                if let Handled::Close = Box::pin(handle_text(ctx, text.as_str())).await {
                    return;
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
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

/// Longest a single write to the socket may take before the peer is given up on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-room delivery state in the writer.
enum RoomState {
    /// Live events are written if newer than `last`.
    Live { last: u64 },
    /// A replay is being read: live events wait here (`last` as it was when it began).
    Replaying {
        last: u64,
        buffer: Vec<(u64, Utf8Bytes)>,
    },
}

struct WriterLimits {
    heartbeat: Duration,
    /// Token expiry, seconds since the epoch (moved by `auth` frames).
    token_exp: watch::Receiver<u64>,
    /// Most live events held for one room while its replay is read.
    replay_buffer: usize,
}

async fn write_loop<S>(
    sink: S,
    rx: mpsc::Receiver<Outbound>,
    kill: Arc<watch::Sender<Option<CloseReason>>>,
    limits: WriterLimits,
    shutdown: natter_common::Shutdown,
) where
    S: Sink<Message> + Unpin,
{
    let receiver = kill.subscribe();
    write_until_closed(sink, rx, receiver, limits, shutdown).await;
    // However the writer ended, the reader ends too.
    kill.send_if_modified(|current| {
        if current.is_some() {
            return false;
        }
        *current = Some(CloseReason {
            code: 1000,
            reason: "closed".into(),
        });
        true
    });
}

async fn write_until_closed<S>(
    mut sink: S,
    mut rx: mpsc::Receiver<Outbound>,
    mut kill: watch::Receiver<Option<CloseReason>>,
    mut limits: WriterLimits,
    shutdown: natter_common::Shutdown,
) where
    S: Sink<Message> + Unpin,
{
    let mut rooms: HashMap<Uuid, RoomState> = HashMap::new();
    // Clamped: a token from an external issuer may say "never".
    const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;
    let deadline = |exp: u64| {
        let remaining = exp.saturating_sub(crate::auth::now_secs()).min(TEN_YEARS);
        Instant::now() + Duration::from_secs(remaining)
    };
    let mut expires = deadline(*limits.token_exp.borrow_and_update());
    let heartbeat = limits.heartbeat;
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let close = loop {
        tokio::select! {
            biased;
            reason = async { kill.wait_for(Option::is_some).await.ok().and_then(|r| r.clone()) } => {
                break reason;
            }
            () = shutdown.wait() => {
                break Some(CloseReason { code: close_code::GOING_AWAY, reason: "server shutting down".into() });
            }
            Ok(()) = limits.token_exp.changed() => {
                expires = deadline(*limits.token_exp.borrow_and_update());
                continue;
            }
            () = tokio::time::sleep_until(expires) => {
                break Some(CloseReason { code: close_code::UNAUTHORIZED, reason: "token expired".into() });
            }
            _ = ping.tick() => {
                let sent = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break None;
                }
            }
            item = rx.recv() => {
                let Some(item) = item else { break None };
                let written = tokio::time::timeout(
                    WRITE_TIMEOUT,
                    write_ready(&mut sink, &mut rx, &mut rooms, item, limits.replay_buffer),
                );
                match written.await {
                    Ok(Ok(())) => {}
                    Ok(Err(Overflow)) => break Some(CloseReason {
                        code: close_code::SLOW_CONSUMER,
                        reason: "too many events while resuming; resume with since".into(),
                    }),
                    Err(_) => break None,
                }
            }
        }
    };
    if let Some(CloseReason { code, reason }) = close {
        // Flush what is already queued (replies, events) before a clean close, unless the
        // close is because the queue is full.
        if code != close_code::SLOW_CONSUMER {
            while let Ok(item) = rx.try_recv() {
                let written = tokio::time::timeout(
                    WRITE_TIMEOUT,
                    write_item(&mut sink, &mut rooms, item, limits.replay_buffer),
                )
                .await;
                if !matches!(written, Ok(Ok(()))) {
                    return;
                }
            }
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.flush()).await;
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
}

/// A write failed (the socket is gone) or a buffer overflowed (the client is too slow).
struct Overflow;

/// Most frames coalesced into one flush (one system call under load instead of one each).
const COALESCE: usize = 64;

/// Writes `first` and whatever else is already queued (up to [`COALESCE`]), then flushes once.
async fn write_ready<S>(
    sink: &mut S,
    rx: &mut mpsc::Receiver<Outbound>,
    rooms: &mut HashMap<Uuid, RoomState>,
    first: Outbound,
    replay_buffer: usize,
) -> Result<(), Overflow>
where
    S: Sink<Message> + Unpin,
{
    write_item(sink, rooms, first, replay_buffer).await?;
    for _ in 1..COALESCE {
        match rx.try_recv() {
            Ok(item) => write_item(sink, rooms, item, replay_buffer).await?,
            Err(_) => break,
        }
    }
    sink.flush().await.map_err(|_| Overflow)
}

async fn write_item<S>(
    sink: &mut S,
    rooms: &mut HashMap<Uuid, RoomState>,
    item: Outbound,
    replay_buffer: usize,
) -> Result<(), Overflow>
where
    S: Sink<Message> + Unpin,
{
    let text = Message::Text;
    let gone = |_| Overflow;
    match item {
        Outbound::Frame(frame) => sink.feed(text(frame)).await.map_err(gone),
        Outbound::Event { room, seq, frame } => match rooms.get_mut(&room) {
            Some(RoomState::Live { last }) if seq > *last => {
                *last = seq;
                sink.feed(text(frame)).await.map_err(gone)
            }
            Some(RoomState::Replaying { buffer, .. }) => {
                if buffer.len() >= replay_buffer {
                    return Err(Overflow);
                }
                buffer.push((seq, frame));
                Ok(())
            }
            _ => Ok(()),
        },
        Outbound::ReplayBegin { room } => {
            let last = match rooms.get(&room) {
                Some(RoomState::Live { last } | RoomState::Replaying { last, .. }) => *last,
                None => 0,
            };
            rooms.insert(
                room,
                RoomState::Replaying {
                    last,
                    buffer: Vec::new(),
                },
            );
            Ok(())
        }
        Outbound::ReplayEnd(end) => {
            let ReplayEnd {
                room,
                reply,
                floor,
                events,
            } = *end;
            if let Some(reply) = reply {
                sink.feed(text(reply)).await.map_err(gone)?;
            }
            // The subscription ended while the replay was read (kicked, archived): nothing of
            // it is written.
            let Some(RoomState::Replaying { last, buffer }) = rooms.remove(&room) else {
                return Ok(());
            };
            let mut last = last.max(floor);
            for (seq, frame) in events.into_iter().chain(buffer) {
                if seq > last {
                    last = seq;
                    sink.feed(text(frame)).await.map_err(gone)?;
                }
            }
            rooms.insert(room, RoomState::Live { last });
            Ok(())
        }
        Outbound::Forget { room, notice } => {
            rooms.remove(&room);
            match notice {
                Some(frame) => sink.feed(text(frame)).await.map_err(gone),
                None => Ok(()),
            }
        }
    }
}
