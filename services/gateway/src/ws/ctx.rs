//! What one socket's frame handlers work with: the session's identity, its outbound queue,
//! the rooms and users it follows.

use std::collections::HashSet;

use natter_schemas::frames::ServerFrame;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::state::AppState;
use natter_realtime::hub::{CloseReason, Outbound, SessionHandle, encode};

/// What a session knows about itself.
pub struct SessionInfo {
    pub id: Uuid,
    pub user: Uuid,
    /// Token expiry (seconds since the epoch): the socket closes with 4001 then.
    pub token_exp: u64,
    /// Which of the user's sign-ins the token is of.
    pub token: natter_actions::auth::TokenRef,
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
    /// Replies still owed for sends whose events are on their way to the log: the session
    /// waits for them before it closes, so that a drain answers every send it read.
    pub acks: tokio_util::task::TaskTracker,
    /// The socket's sends, published in order on a task of their own (taken when it closes).
    pub(super) sends: Option<super::sends::Sends>,
    pub(super) kill: watch::Receiver<Option<CloseReason>>,
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
