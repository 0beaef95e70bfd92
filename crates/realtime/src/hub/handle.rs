//! What the hub holds of one socket: its outbound queue and its kill switch.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use natter_schemas::consent::{Reach, Standing, Verdict, decide};
use natter_schemas::frames::close_code;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

/// What the hub and the session's reader hand to the session's writer, in order.
#[derive(Debug)]
pub enum Outbound {
    /// A live room event (the frame is shared by every socket in the room).
    Event {
        room: Uuid,
        seq: u64,
        frame: Utf8Bytes,
    },
    /// Any other frame, written as is.
    Frame(Utf8Bytes),
    /// Buffer the room's live events until `ReplayEnd`.
    ReplayBegin { room: Uuid },
    /// Write `reply`, then `events` (after `floor`), then the buffered live events after them.
    /// Boxed: rare, and the largest variant would size every slot of every socket's queue.
    ReplayEnd(Box<ReplayEnd>),
    /// The subscription ended (client unsubscribed, or removed by the server with `reason`).
    Forget {
        room: Uuid,
        notice: Option<Utf8Bytes>,
    },
}

/// The end of a room's replay (see [`Outbound::ReplayEnd`]).
#[derive(Debug)]
pub struct ReplayEnd {
    pub room: Uuid,
    pub reply: Option<Utf8Bytes>,
    pub floor: u64,
    pub events: Vec<(u64, Utf8Bytes)>,
}

/// Why a session is being closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

/// The hub's handle on one socket.
#[derive(Clone)]
pub struct SessionHandle {
    pub id: Uuid,
    pub user: Uuid,
    tx: mpsc::Sender<Outbound>,
    kill: Arc<watch::Sender<Option<CloseReason>>>,
    /// The token the socket is open with (an `auth` frame replaces it).
    token: Arc<std::sync::Mutex<TokenRef>>,
    /// Whom the socket's user blocks: their messages, reactions and typing are not delivered.
    pub blocked: Arc<BlockSet>,
}

/// Whom a socket's user blocks, checked on every delivery: one atomic load while it is empty.
#[derive(Debug, Default)]
pub struct BlockSet {
    any: std::sync::atomic::AtomicBool,
    users: std::sync::RwLock<std::collections::HashSet<Uuid>>,
}

impl BlockSet {
    pub fn contains(&self, user: Uuid) -> bool {
        self.any.load(std::sync::atomic::Ordering::Relaxed)
            && self
                .users
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&user)
    }

    /// Everyone the user blocks, as the read model has it.
    pub fn replace(&self, users: impl IntoIterator<Item = Uuid>) {
        let mut set = self.users.write().unwrap_or_else(|e| e.into_inner());
        *set = users.into_iter().collect();
        self.any
            .store(!set.is_empty(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Follows the user's `user.blocked` and `user.unblocked` events.
    pub fn follow(&self, event: &natter_schemas::Event) {
        use natter_schemas::EventBody;
        let mut set = self.users.write().unwrap_or_else(|e| e.into_inner());
        match &event.body {
            EventBody::UserBlocked(b) => set.insert(b.user_id),
            EventBody::UserUnblocked(b) => set.remove(&b.user_id),
            _ => return,
        };
        self.any
            .store(!set.is_empty(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether `actor`'s `reach` may not get to the user, by whom the user blocks: the
    /// socket's side of [`natter_schemas::consent::decide`]. Only blocks are known here; what
    /// else stands between the two was decided where the actor acted.
    pub fn refuses(&self, actor: Uuid, reach: Reach) -> bool {
        // Every delivery asks: one atomic load while the user blocks nobody.
        if !self.any.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        let standing = Standing {
            blocks_actor: self.contains(actor),
            accepted: true,
            ..Standing::default()
        };
        decide(standing, reach) == Verdict::No
    }

    /// Whether a room event is kept from the user's sockets: content from someone they block
    /// (a message, an edit, a reaction, a link preview of their message), even one appended
    /// before the block.
    pub fn hides(&self, event: &natter_schemas::Event) -> bool {
        reach_of(event, false).is_some_and(|reach| self.refuses(event.actor_id, reach))
    }

    /// Whether a notice (an event addressed to the user) is kept from their sockets: what
    /// [`BlockSet::hides`] keeps, and being put in a room by, or a profile change of, someone
    /// they block.
    pub fn hides_notice(&self, event: &natter_schemas::Event) -> bool {
        reach_of(event, true).is_some_and(|reach| self.refuses(event.actor_id, reach))
    }
}

/// How an event of its actor's reaches the people it is delivered to; None for what reaches
/// everyone it is delivered to (room state: members, settings, moderation).
fn reach_of(event: &natter_schemas::Event, notice: bool) -> Option<Reach> {
    use natter_schemas::EventBody;
    match event.body {
        EventBody::MessagePosted(_)
        | EventBody::MessageEdited(_)
        | EventBody::ReactionAdded(_)
        | EventBody::ReactionRemoved(_)
        | EventBody::PreviewAdded(_) => Some(Reach::Content),
        EventBody::RoomCreated(_) | EventBody::MemberInvited(_) if notice => Some(Reach::Add),
        EventBody::UserProfileUpdated(_) if notice => Some(Reach::See),
        _ => None,
    }
}

impl SessionHandle {
    pub fn new(
        (id, user): (Uuid, Uuid),
        token: TokenRef,
        tx: mpsc::Sender<Outbound>,
        kill: Arc<watch::Sender<Option<CloseReason>>>,
    ) -> Self {
        Self {
            id,
            user,
            tx,
            kill,
            token: Arc::new(std::sync::Mutex::new(token)),
            blocked: Arc::default(),
        }
    }

    pub fn token(&self) -> TokenRef {
        *self.token.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_token(&self, token: TokenRef) {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// Closes the socket with 4001 when `event` (one of its user's) ends its token's session.
    pub fn close_if_ended(&self, event: &natter_schemas::Event) {
        let token = self.token();
        if let Some(reason) = natter_schemas::event::ends(event, token.session, token.issued) {
            self.close(close_code::UNAUTHORIZED, reason.close_reason());
        }
    }

    /// Queues without waiting; a full queue closes the session as too slow.
    pub fn push(&self, item: Outbound) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(item) {
            metrics::counter!("natter_gateway_slow_consumers_total").increment(1);
            self.close(
                close_code::SLOW_CONSUMER,
                "too slow to read events; reconnect and resume with since",
            );
        }
    }

    /// Asks the session to close with `code` (the first reason wins).
    pub fn close(&self, code: u16, reason: &str) {
        self.kill.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(CloseReason {
                code,
                reason: reason.to_owned(),
            });
            true
        });
    }
}

/// What names a token among the user's: its session, and when it was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenRef {
    /// The session (`sid`), for tokens natter issued.
    pub session: Option<Uuid>,
    /// `iat`, seconds since the epoch (0 when the token does not say).
    pub issued: u64,
}
