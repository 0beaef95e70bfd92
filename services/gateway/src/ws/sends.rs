//! A socket's sends, in frame order, on a task of their own: the reader hands each `send` frame
//! over and goes on reading (pings, typing, subscriptions), so that one slow send (the log
//! electing a leader, the key bucket slow to answer) never holds the socket's other frames.
//!
//! Order: one task publishes the socket's sends one after another, so they reach the log in
//! the order they were read; each reply follows the log's ack on a task of its own (the
//! session's `acks`), without holding up the next send. Every send is answered within
//! [`send_bound`] (`unavailable` past it: the client sends it again with the same
//! `client_msg_id`). When the socket closes, sends it read are answered for a short while
//! (the session's drain), then the rest are dropped unanswered, never published after their
//! socket is gone; the client resends them.

use natter_actions::commands::{self, Published, send_bound};
use natter_actions::error::ApiError;
use natter_realtime::hub::{Outbound, encode};
use natter_realtime::wire::to_value;
use natter_schemas::frames::{RequestId, ServerFrame};
use natter_schemas::rest::SendMessageRequest;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::state::AppState;

/// How many read sends may wait for their turn: past it the reader waits too (the client's
/// own sends push back on it).
const QUEUED: usize = 64;

/// One `send` frame, read.
struct Queued {
    room: Uuid,
    req: SendMessageRequest,
    reply_id: Option<RequestId>,
    /// When it must be answered by.
    deadline: Instant,
}

/// The socket's side of its send task, which starts with its first send (a socket that only
/// reads costs no task).
pub(super) struct Sends {
    state: AppState,
    user: Uuid,
    out: mpsc::Sender<Outbound>,
    acks: tokio_util::task::TaskTracker,
    running: Option<(mpsc::Sender<Queued>, tokio::task::JoinHandle<()>)>,
}

impl Sends {
    /// The sends of `user`'s socket: replies go to `out`, acks are tracked by `acks` (which
    /// the session drains before it closes).
    pub(super) fn new(
        state: AppState,
        user: Uuid,
        out: mpsc::Sender<Outbound>,
        acks: tokio_util::task::TaskTracker,
    ) -> Self {
        Self {
            state,
            user,
            out,
            acks,
            running: None,
        }
    }

    /// Hands a send over; waits only while [`QUEUED`] sends wait already.
    pub(super) async fn push(
        &mut self,
        room: Uuid,
        req: SendMessageRequest,
        reply_id: Option<RequestId>,
    ) {
        let send = Queued {
            room,
            req,
            reply_id,
            deadline: Instant::now() + send_bound(self.state.actions()),
        };
        let (queue, _) = self.running.get_or_insert_with(|| {
            let (queue, mut queued) = mpsc::channel::<Queued>(QUEUED);
            let (state, user, out, acks) = (
                self.state.clone(),
                self.user,
                self.out.clone(),
                self.acks.clone(),
            );
            let task = tokio::spawn(async move {
                while let Some(send) = queued.recv().await {
                    publish(&state, user, send, &out, &acks).await;
                }
            });
            (queue, task)
        });
        // The task ends only with the socket.
        let _ = queue.send(send).await;
    }

    /// No more sends: the task (if any send started it) publishes those queued and ends; the
    /// session waits for it while it drains, then aborts it.
    pub(super) fn close(self) -> Option<tokio::task::JoinHandle<()>> {
        self.running.map(|(queue, task)| {
            drop(queue);
            task
        })
    }
}

/// Publishes one send, in its turn, and answers it (at once, or when the log acks it).
async fn publish(
    state: &AppState,
    user: Uuid,
    send: Queued,
    out: &mpsc::Sender<Outbound>,
    acks: &tokio_util::task::TaskTracker,
) {
    let Queued {
        room,
        req,
        reply_id,
        deadline,
    } = send;
    let published = commands::by(
        deadline,
        commands::publish_message(state.actions(), user, room, &req),
    )
    .await;
    match published {
        Ok(Published::Answered(reply)) => answer(out, reply_id, Ok(to_value(&reply))).await,
        Ok(Published::Pending(pending)) => {
            let out = out.clone();
            acks.spawn(async move {
                let acked = commands::by(deadline, pending.ack()).await;
                answer(&out, reply_id, acked.map(|reply| to_value(&reply))).await;
            });
        }
        Err(e) => answer(out, reply_id, Err(e)).await,
    }
}

/// The send's `reply` (or, for a frame without an id, an `error` frame when it failed).
async fn answer(
    out: &mpsc::Sender<Outbound>,
    id: Option<RequestId>,
    result: Result<serde_json::Value, ApiError>,
) {
    let frame = match (result, id) {
        (Ok(data), Some(id)) => ServerFrame::Reply {
            id,
            ok: true,
            data: Some(data),
            error: None,
        },
        (Err(e), Some(id)) => ServerFrame::Reply {
            id,
            ok: false,
            data: None,
            error: Some(e.0),
        },
        (Err(e), None) => ServerFrame::Error { error: e.0 },
        (Ok(_), None) => return,
    };
    let _ = out.send(Outbound::Frame(encode(&frame))).await;
}
