//! A socket's writer: owns the sink and drains the bounded outbound queue, writing live events
//! in seq order per room, holding them while a room's replay is read, and closing with a
//! reason (token expiry, shutdown, a slow consumer) after flushing what is queued.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::{Sink, SinkExt};
use natter_schemas::frames::close_code;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use uuid::Uuid;

use natter_realtime::hub::{CloseReason, Outbound, ReplayEnd};

/// The close reason of a drain (code 1001).
pub(super) const SHUTTING_DOWN: &str = "server shutting down";

/// Longest a single write to the socket may take before the peer is given up on.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after shutdown began the writer closes a session that has not closed itself.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(6);

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

pub(super) struct WriterLimits {
    pub(super) heartbeat: Duration,
    /// Token expiry, seconds since the epoch (moved by `auth` frames).
    pub(super) token_exp: watch::Receiver<u64>,
    /// Most live events held for one room while its replay is read.
    pub(super) replay_buffer: usize,
}

pub(super) async fn write_loop<S>(
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
        let remaining = exp
            .saturating_sub(natter_actions::auth::now_secs())
            .min(TEN_YEARS);
        Instant::now() + Duration::from_secs(remaining)
    };
    let mut expires = deadline(*limits.token_exp.borrow_and_update());
    let heartbeat = limits.heartbeat;
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    // At shutdown the reader stops and closes the session once its owed replies are queued;
    // should it be held up past the grace, the writer closes by itself.
    let overdue = async {
        shutdown.wait().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::pin!(overdue);
    let close = loop {
        tokio::select! {
            biased;
            reason = async { kill.wait_for(Option::is_some).await.ok().and_then(|r| r.clone()) } => {
                break reason;
            }
            () = &mut overdue => {
                break Some(CloseReason { code: close_code::GOING_AWAY, reason: SHUTTING_DOWN.into() });
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
        let frame = close_frame(code, &reason);
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
}

/// A close frame: `code`, and `reason` cut to the 123 bytes a close frame holds (at a
/// character boundary).
pub(super) fn close_frame(code: u16, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    }
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
