//! One NATS subscription per room (and per user) per gateway, fanned out in-process.
//!
//! Each delivered event is decoded and serialised once, into a frame whose bytes are shared by
//! every local socket subscribed to the room. Each socket has a bounded outbound queue; a
//! socket whose queue is full is closed with 4008 (it resumes with `since`), and never slows
//! the room down for the others.
//!
//! Layout: [`handle`] is what the hub holds of a socket; [`registry`] keeps each room's and
//! user's set of sockets with its one subscription; [`room`] delivers a room's events and
//! typing signals (one set of sockets for both, so that a removal ends both), and keeps its
//! [`rules`] (who may send) from them, which [`sending`] answers sends from; [`signals`]
//! forwards notices and presence; [`people`] passes profile changes on.

mod handle;
mod people;
mod registry;
mod room;
mod rules;
mod sending;
mod signals;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use natter_bus::{Bus, BusError};
use natter_schemas::frames::close_code;
use tokio::sync::Mutex;
use uuid::Uuid;

pub use crate::wire::{encode, event_frame, wire_event};

/// How frames name files: shared by every task that encodes events.
pub type FileUrlsRef = Arc<dyn natter_schemas::files::FileUrls>;
pub use handle::{CloseReason, Outbound, ReplayEnd, SessionHandle, TokenRef};
use registry::{join, leave, read, write};
use rules::Rules;

/// One socket subscribed to an entry.
#[derive(Clone)]
pub(crate) struct Sub {
    pub handle: SessionHandle,
    /// For rooms: whether the socket's user is a member (members-only events go to members
    /// only), and the seq of the state that said so (a later one wins).
    pub member: bool,
    pub member_as_of: u64,
}

impl Sub {
    fn new(handle: SessionHandle, member: bool) -> Self {
        Self {
            handle,
            member,
            member_as_of: 0,
        }
    }
}

type Sessions = Arc<RwLock<HashMap<Uuid, Sub>>>;

/// The rules of each room entry, by room.
type RulesIndex = RwLock<HashMap<Uuid, Arc<Rules>>>;

struct Entry {
    sessions: Sessions,
    /// The newest seq this gateway delivered for the room (or user); for a room, it starts
    /// at the log's head when the subscription began (what came before is the replay's).
    last_seq: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // Dropping the task's subscribers unsubscribes from NATS.
        self.task.abort();
    }
}

#[derive(Clone)]
pub struct Hub(Arc<Inner>);

struct Inner {
    bus: Bus,
    /// The keys: an erasure heard here drops what is cached of the user's.
    vault: natter_vault::Vault,
    /// The read models, for who may still see whose presence.
    pool: sqlx::PgPool,
    /// How events name files (signed URLs), once per event and gateway.
    urls: FileUrlsRef,
    /// Room events and typing signals, per room.
    rooms: Mutex<HashMap<Uuid, Entry>>,
    /// Each room entry's rules, kept with the entries (made and dropped under their lock), so
    /// that a send does not wait on that lock (held while a new room is subscribed to).
    rules: Arc<RulesIndex>,
    users: Mutex<HashMap<Uuid, Entry>>,
    /// Presence changes per followed user.
    presence: Mutex<HashMap<Uuid, Entry>>,
    live_sessions: std::sync::atomic::AtomicUsize,
}

impl Hub {
    pub fn new(
        bus: Bus,
        pool: sqlx::PgPool,
        urls: FileUrlsRef,
        vault: natter_vault::Vault,
    ) -> Self {
        Self(Arc::new(Inner {
            bus,
            vault,
            pool,
            urls,
            rooms: Mutex::new(HashMap::new()),
            rules: Arc::default(),
            users: Mutex::new(HashMap::new()),
            presence: Mutex::new(HashMap::new()),
            live_sessions: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// Closes every socket with 1012 whenever the NATS connection had trouble, until
    /// `shutdown`. Deliveries are core NATS: a disconnect or an overflowing subscription loses
    /// some, and sockets cannot tell, so they resume with `since`. Its owner
    /// (the gateway, through the state's background tasks) spawns and joins it.
    pub async fn close_on_lost_deliveries(self, shutdown: natter_common::Shutdown) {
        let mut events = self.0.bus.connection_events();
        loop {
            let event = tokio::select! {
                () = shutdown.wait() => break,
                event = events.recv() => event,
            };
            let event = match event {
                Ok(event) if !event.is_trouble() => continue,
                Ok(event) => format!("{event:?}"),
                // Events were missed: some may have been trouble.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    format!("{n} connection events missed")
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            // Room events may have been lost too: no room's rules can be vouched for.
            for rules in self
                .0
                .rules
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
            {
                rules.broke();
            }
            let users = self.0.users.lock().await;
            for entry in users.values() {
                for sub in read(&entry.sessions).values() {
                    sub.handle.close(
                        close_code::SERVICE_RESTART,
                        "deliveries were interrupted; reconnect and resume with since",
                    );
                }
            }
            tracing::warn!(
                %event,
                sessions = users.len(),
                "closed sockets after lost deliveries"
            );
        }
    }

    /// The newest seq this gateway has delivered for `room`, or the log's head when the
    /// gateway's subscription to it began if that is newer (0 when not subscribed). Every
    /// room event after it reaches the room's sockets.
    pub async fn room_last_seq(&self, room: Uuid) -> u64 {
        self.0
            .rooms
            .lock()
            .await
            .get(&room)
            .map_or(0, |e| e.last_seq.load(Ordering::Relaxed))
    }

    /// Whether `session` still receives `room` (the server ends subscriptions on a kick, a ban,
    /// an archive).
    pub async fn has_session(&self, room: Uuid, session: Uuid) -> bool {
        self.0
            .rooms
            .lock()
            .await
            .get(&room)
            .is_some_and(|e| read(&e.sessions).contains_key(&session))
    }

    /// Records whether `session`'s user is a member of `room`, as of `seq` (ignored when the
    /// hub already knows of a later change).
    pub async fn set_member(&self, room: Uuid, session: Uuid, member: bool, seq: u64) {
        if let Some(entry) = self.0.rooms.lock().await.get(&room)
            && let Some(sub) = write(&entry.sessions).get_mut(&session)
            && sub.member_as_of <= seq
        {
            sub.member = member;
            sub.member_as_of = seq;
        }
    }

    /// Delivers `followed`'s presence changes to `session`, for as long as the two users
    /// share a room (checked at each change).
    pub async fn follow_presence(
        &self,
        followed: Uuid,
        session: SessionHandle,
    ) -> Result<(), BusError> {
        let pool = self.0.pool.clone();
        join(
            &self.0.bus,
            (&self.0.presence, None),
            followed,
            self.0.bus.subjects().presence(followed),
            Sub::new(session, true),
            std::future::ready(Ok(0)),
            |sub, sessions, _, _| signals::presence_task(followed, sub, sessions, pool),
        )
        .await?;
        Ok(())
    }

    pub async fn unfollow_presence(&self, followed: Uuid, session: Uuid) {
        leave((&self.0.presence, None), followed, session).await;
    }

    /// The users with sockets on this gateway, with their sockets.
    pub async fn local_users(&self) -> Vec<(Uuid, Vec<Uuid>)> {
        self.0
            .users
            .lock()
            .await
            .iter()
            .map(|(user, e)| (*user, read(&e.sessions).keys().copied().collect()))
            .collect()
    }

    /// Closes this gateway's sockets that are `session`, or belong to `user`; returns how many.
    pub async fn close_sessions(
        &self,
        session: Option<Uuid>,
        user: Option<Uuid>,
        code: u16,
        reason: &str,
    ) -> usize {
        let users = self.0.users.lock().await;
        let mut closed = 0;
        for (owner, entry) in users.iter() {
            for sub in read(&entry.sessions).values() {
                if Some(sub.handle.id) == session || Some(*owner) == user {
                    sub.handle.close(code, reason);
                    closed += 1;
                }
            }
        }
        closed
    }

    /// Rooms with at least one subscribed socket here.
    pub async fn room_count(&self) -> usize {
        self.0.rooms.lock().await.len()
    }

    /// How many sockets `user` has open on this gateway.
    /// Whether the socket `session` is subscribed to `room` here as a member.
    pub async fn subscribed_member(&self, room: Uuid, session: Uuid) -> bool {
        self.0
            .rooms
            .lock()
            .await
            .get(&room)
            .and_then(|e| read(&e.sessions).get(&session).map(|s| s.member))
            .unwrap_or(false)
    }

    pub async fn user_sessions(&self, user: Uuid) -> usize {
        self.0
            .users
            .lock()
            .await
            .get(&user)
            .map_or(0, |e| read(&e.sessions).len())
    }

    /// Sockets currently open on this gateway.
    pub fn session_count(&self) -> usize {
        self.0.live_sessions.load(Ordering::Relaxed)
    }

    pub fn session_opened(&self) {
        self.0.live_sessions.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("natter_gateway_sockets").increment(1.0);
    }

    pub fn session_closed(&self) {
        self.0.live_sessions.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("natter_gateway_sockets").decrement(1.0);
    }

    /// Adds `session` to the room's subscribers (its events and its typing signals); `member`
    /// says whether its user is a member now. When this returns, the gateway's NATS
    /// subscription has been sent and flushed on this connection, ahead of any later request
    /// (such as the replay's consumer): every event the fan-out delivers after that reaches
    /// the session, and [`Hub::room_last_seq`] is a seq that every earlier event is at or
    /// below.
    pub async fn subscribe_room(
        &self,
        room: Uuid,
        session: SessionHandle,
        member: bool,
    ) -> Result<(), BusError> {
        let subject = self.0.bus.subjects().deliver_room(room);
        let bus = self.0.bus.clone();
        let urls = self.0.urls.clone();
        let pool = self.0.pool.clone();
        // Read before subscribing (once per gateway, when the room's entry is made): events up
        // to here belong to the sessions' replays, and any later one that the fan-out sent
        // before the subscription was active is found through the next delivery's previous seq.
        let count = join(
            &self.0.bus,
            (&self.0.rooms, Some(&self.0.rules)),
            room,
            subject,
            Sub::new(session, member),
            self.0.bus.last_seq(),
            |sub, sessions, seen, rules| {
                let feed = room::Feed {
                    bus,
                    room,
                    sessions,
                    seen,
                    rules,
                    urls,
                    deleted: Default::default(),
                    pool,
                };
                room::room_task(feed, sub)
            },
        )
        .await?;
        metrics::gauge!("natter_gateway_rooms").set(count as f64);
        Ok(())
    }

    pub async fn unsubscribe_room(&self, room: Uuid, session: Uuid) {
        let count = leave((&self.0.rooms, Some(&self.0.rules)), room, session).await;
        metrics::gauge!("natter_gateway_rooms").set(count as f64);
    }

    /// Delivers the user's notices to `session`.
    pub async fn subscribe_user(&self, session: SessionHandle) -> Result<(), BusError> {
        let user = session.user;
        let subject = self.0.bus.subjects().deliver_user(user);
        join(
            &self.0.bus,
            (&self.0.users, None),
            user,
            subject,
            Sub::new(session, true),
            std::future::ready(Ok(0)),
            |sub, sessions, _, _| {
                signals::user_task(
                    sub,
                    sessions,
                    self.0.bus.clone(),
                    self.0.rules.clone(),
                    self.0.urls.clone(),
                )
            },
        )
        .await?;
        Ok(())
    }

    pub async fn unsubscribe_user(&self, user: Uuid, session: Uuid) {
        leave((&self.0.users, None), user, session).await;
    }
}
