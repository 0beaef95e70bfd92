//! One NATS subscription per room (and per user) per gateway, fanned out in-process.
//!
//! Each delivered event is decoded and serialised once, into a frame whose bytes are shared by
//! every local socket subscribed to the room. Each socket has a bounded outbound queue; a
//! socket whose queue is full is closed with 4008 (it resumes with `since`), and never slows
//! the room down for the others.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures::StreamExt;
use natter_bus::{Bus, BusError, DeliveryHeaders};
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::frames::{ServerFrame, TypingState, WireEvent, close_code};
use natter_schemas::model::{Message, Visibility};
use tokio::sync::{Mutex, mpsc, watch};
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
    ReplayEnd {
        room: Uuid,
        reply: Option<Utf8Bytes>,
        floor: u64,
        events: Vec<(u64, Utf8Bytes)>,
    },
    /// The subscription ended (client unsubscribed, or removed by the server with `reason`).
    Forget {
        room: Uuid,
        notice: Option<Utf8Bytes>,
    },
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
}

impl SessionHandle {
    pub fn new(
        id: Uuid,
        user: Uuid,
        tx: mpsc::Sender<Outbound>,
        kill: Arc<watch::Sender<Option<CloseReason>>>,
    ) -> Self {
        Self { id, user, tx, kill }
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

type Sessions = Arc<RwLock<HashMap<Uuid, SessionHandle>>>;

struct Entry {
    sessions: Sessions,
    /// The newest seq this gateway delivered for the room (or user).
    last_seq: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // Dropping the task's subscriber unsubscribes from NATS.
        self.task.abort();
    }
}

#[derive(Clone)]
pub struct Hub(Arc<Inner>);

struct Inner {
    bus: Bus,
    rooms: Mutex<HashMap<Uuid, Entry>>,
    users: Mutex<HashMap<Uuid, Entry>>,
    /// Typing signals per room, with the same sessions as `rooms`.
    typing: Mutex<HashMap<Uuid, Entry>>,
    /// Presence changes per followed user.
    presence: Mutex<HashMap<Uuid, Entry>>,
    live_sessions: std::sync::atomic::AtomicUsize,
}

impl Hub {
    pub fn new(bus: Bus) -> Self {
        let hub = Self(Arc::new(Inner {
            bus,
            rooms: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
            typing: Mutex::new(HashMap::new()),
            presence: Mutex::new(HashMap::new()),
            live_sessions: std::sync::atomic::AtomicUsize::new(0),
        }));
        // Deliveries are core NATS: a disconnect or an overflowing subscription loses some.
        // Sockets cannot tell, so they are closed with 1012 and resume with `since`.
        let mut events = hub.0.bus.connection_events();
        let weak = Arc::downgrade(&hub.0);
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                let users = inner.users.lock().await;
                for entry in users.values() {
                    for session in read(&entry.sessions).values() {
                        session.close(
                            close_code::SERVICE_RESTART,
                            "deliveries were interrupted; reconnect and resume with since",
                        );
                    }
                }
                tracing::warn!(
                    ?event,
                    sessions = users.len(),
                    "closed sockets after lost deliveries"
                );
            }
        });
        hub
    }

    /// The newest seq this gateway has delivered for `room` (0 when not subscribed).
    pub async fn room_last_seq(&self, room: Uuid) -> u64 {
        self.0
            .rooms
            .lock()
            .await
            .get(&room)
            .map_or(0, |e| e.last_seq.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Delivers `followed`'s presence changes to `session`.
    pub async fn follow_presence(
        &self,
        followed: Uuid,
        session: SessionHandle,
    ) -> Result<(), BusError> {
        join(
            &self.0.bus,
            &self.0.presence,
            followed,
            self.0.bus.subjects().presence(followed),
            session,
            std::future::ready(Ok(0)),
            |sub, sessions, _, _| presence_task(sub, sessions),
        )
        .await?;
        Ok(())
    }

    pub async fn unfollow_presence(&self, followed: Uuid, session: Uuid) {
        leave(&self.0.presence, followed, session).await;
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
            for handle in read(&entry.sessions).values() {
                if Some(handle.id) == session || Some(*owner) == user {
                    handle.close(code, reason);
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
        self.0
            .live_sessions
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn session_opened(&self) {
        self.0
            .live_sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::gauge!("natter_gateway_sockets").increment(1.0);
    }

    pub fn session_closed(&self) {
        self.0
            .live_sessions
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        metrics::gauge!("natter_gateway_sockets").decrement(1.0);
    }

    /// Adds `session` to the room's subscribers. When this returns, the gateway's NATS
    /// subscription has been sent and flushed on this connection, ahead of any later request
    /// (such as the replay's consumer): every event the fan-out delivers after that reaches
    /// the session.
    pub async fn subscribe_room(&self, room: Uuid, session: SessionHandle) -> Result<(), BusError> {
        let subject = self.0.bus.subjects().deliver_room(room);
        let bus = self.0.bus.clone();
        // Read before subscribing (once per gateway, when the room's entry is made): events up
        // to here belong to the sessions' replays, and any later one that the fan-out sent
        // before the subscription was active is found through the next delivery's previous seq.
        let count = join(
            &self.0.bus,
            &self.0.rooms,
            room,
            subject,
            session.clone(),
            self.0.bus.last_seq(),
            |sub, sessions, seen, floor| room_task(bus, room, floor, sub, sessions, seen),
        )
        .await?;
        metrics::gauge!("natter_gateway_rooms").set(count as f64);
        join(
            &self.0.bus,
            &self.0.typing,
            room,
            self.0.bus.subjects().typing_room(room),
            session,
            std::future::ready(Ok(0)),
            |sub, sessions, _, _| typing_task(room, sub, sessions),
        )
        .await?;
        Ok(())
    }

    pub async fn unsubscribe_room(&self, room: Uuid, session: Uuid) {
        let count = leave(&self.0.rooms, room, session).await;
        leave(&self.0.typing, room, session).await;
        metrics::gauge!("natter_gateway_rooms").set(count as f64);
    }

    /// Delivers the user's notices to `session`.
    pub async fn subscribe_user(&self, session: SessionHandle) -> Result<(), BusError> {
        let user = session.user;
        let subject = self.0.bus.subjects().deliver_user(user);
        join(
            &self.0.bus,
            &self.0.users,
            user,
            subject,
            session,
            std::future::ready(Ok(0)),
            |sub, sessions, _, _| user_task(sub, sessions),
        )
        .await?;
        Ok(())
    }

    pub async fn unsubscribe_user(&self, user: Uuid, session: Uuid) {
        leave(&self.0.users, user, session).await;
    }
}

/// Adds `session` under `key`. When it is the first, awaits `floor`, subscribes to `subject`
/// and starts the entry's task (which gets the floor). Returns how many entries there are.
async fn join<P, F, T>(
    bus: &Bus,
    entries: &Mutex<HashMap<Uuid, Entry>>,
    key: Uuid,
    subject: String,
    session: SessionHandle,
    floor: P,
    task: F,
) -> Result<usize, BusError>
where
    P: std::future::Future<Output = Result<u64, BusError>>,
    F: FnOnce(async_nats::Subscriber, Sessions, Arc<std::sync::atomic::AtomicU64>, u64) -> T,
    T: std::future::Future<Output = ()> + Send + 'static,
{
    let mut entries = entries.lock().await;
    if let Some(entry) = entries.get(&key) {
        write(&entry.sessions).insert(session.id, session);
        return Ok(entries.len());
    }
    let floor = floor.await?;
    let subscriber = bus
        .client()
        .subscribe(subject)
        .await
        .map_err(BusError::unavailable)?;
    bus.flush().await?;
    let sessions: Sessions = Arc::default();
    write(&sessions).insert(session.id, session);
    let last_seq = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let task = tokio::spawn(task(subscriber, sessions.clone(), last_seq.clone(), floor));
    entries.insert(
        key,
        Entry {
            sessions,
            last_seq,
            task,
        },
    );
    Ok(entries.len())
}

/// Removes `session` from `key`; the last one out ends the NATS subscription. Returns how many
/// entries remain.
async fn leave(entries: &Mutex<HashMap<Uuid, Entry>>, key: Uuid, session: Uuid) -> usize {
    let mut entries = entries.lock().await;
    let empty = entries.get(&key).is_some_and(|entry| {
        let mut sessions = write(&entry.sessions);
        sessions.remove(&session);
        sessions.is_empty()
    });
    if empty {
        entries.remove(&key);
    }
    entries.len()
}

fn write(sessions: &Sessions) -> std::sync::RwLockWriteGuard<'_, HashMap<Uuid, SessionHandle>> {
    sessions
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read(sessions: &Sessions) -> std::sync::RwLockReadGuard<'_, HashMap<Uuid, SessionHandle>> {
    sessions
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Serialises a frame once, for every socket that gets it.
pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

/// The wire form of a stored event: for `message.posted`, `data` is the message object.
pub fn wire_event(seq: u64, event: &Event) -> WireEvent {
    let data = match (&event.body, event.room_id) {
        (EventBody::MessagePosted(posted), Some(room)) => serde_json::to_value(
            Message::from_posted(room, seq, event.actor_id, event.occurred_at, posted),
        )
        .unwrap_or_default(),
        _ => serde_json::to_value(&event.body)
            .ok()
            .and_then(|mut v| v.get_mut("data").map(serde_json::Value::take))
            .unwrap_or_default(),
    };
    WireEvent {
        id: event.id,
        event_type: event.type_name().to_owned(),
        actor_id: event.actor_id,
        occurred_at: event.occurred_at,
        data,
    }
}

/// The `event` frame for a room event.
pub fn event_frame(room: Uuid, seq: u64, event: &Event) -> Utf8Bytes {
    encode(&ServerFrame::Event {
        room_id: room,
        seq,
        event: wire_event(seq, event),
    })
}

/// Whose subscriptions to a room an event ends (after delivering it to them): one user's, or
/// everyone's (`None`), with the reason.
fn ends_subscription(event: &Event) -> Option<(Option<Uuid>, &'static str)> {
    match &event.body {
        EventBody::MemberKicked(m) => Some((Some(m.user_id), "kicked")),
        EventBody::MemberBanned(m) => Some((Some(m.user_id), "banned")),
        EventBody::MemberLeft(m) => Some((Some(m.user_id), "left")),
        EventBody::RoomArchived(_) => Some((None, "archived")),
        // Non-members may have been reading it while it was public: everyone subscribes again
        // and is checked again.
        EventBody::RoomUpdated(u) if u.visibility == Some(Visibility::Private) => {
            Some((None, "visibility_changed"))
        }
        _ => None,
    }
}

async fn room_task(
    bus: Bus,
    room: Uuid,
    mut floor: u64,
    mut subscriber: async_nats::Subscriber,
    sessions: Sessions,
    seen: Arc<std::sync::atomic::AtomicU64>,
) {
    // Events up to the log's head when the subscription began belong to the sessions' own
    // replays; after it, every room event must arrive here. The fan-out may also deliver a
    // batch twice after a crash: each room's seqs only grow, so repeats are dropped.
    while let Some(message) = subscriber.next().await {
        let Some(seq) = DeliveryHeaders::seq(&message) else {
            continue;
        };
        if seq <= floor {
            continue;
        }
        // The fan-out says which room event came before this one: if this gateway never got
        // it (core NATS dropped it, or interest had not reached the fan-out's server yet),
        // read the hole from the log before going on.
        if let Some(prev) = DeliveryHeaders::prev_seq(&message).filter(|p| *p > floor) {
            match backfill(&bus, room, floor, seq, &sessions, &seen).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(%room, floor, prev, error = %e, "cannot fill a delivery gap; closing the room's sockets");
                    for session in read(&sessions).values() {
                        session.close(
                            close_code::SERVICE_RESTART,
                            "deliveries were interrupted; reconnect and resume with since",
                        );
                    }
                }
            }
        }
        floor = seq;
        seen.store(seq, std::sync::atomic::Ordering::Relaxed);
        let event = match Event::from_bytes(&message.payload) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(%room, seq, error = %e, "undecodable delivery");
                continue;
            }
        };
        deliver(room, seq, &event, &sessions);
    }
}

/// Reads the room's events after `floor` and before `until` from the log and delivers them.
async fn backfill(
    bus: &Bus,
    room: Uuid,
    floor: u64,
    until: u64,
    sessions: &Sessions,
    seen: &std::sync::atomic::AtomicU64,
) -> Result<(), BusError> {
    metrics::counter!("natter_gateway_delivery_gaps_total").increment(1);
    let replay = bus
        .replay_room(room, floor, 10_000, std::time::Duration::from_secs(5))
        .await?;
    let natter_bus::Replay::Events(events) = replay else {
        return Err(BusError::other("gap too large to fill"));
    };
    for (seq, bytes) in events.into_iter().filter(|(s, _)| *s < until) {
        if let Ok(event) = Event::from_bytes(&bytes) {
            seen.store(seq, std::sync::atomic::Ordering::Relaxed);
            deliver(room, seq, &event, sessions);
        }
    }
    Ok(())
}

/// Hands one event to every session of the room (serialised once), and ends the
/// subscriptions the event ends.
fn deliver(room: Uuid, seq: u64, event: &Event, sessions: &Sessions) {
    {
        let frame = event_frame(room, seq, event);
        let mut delivered = 0u64;
        {
            let sessions = read(sessions);
            for session in sessions.values() {
                session.push(Outbound::Event {
                    room,
                    seq,
                    frame: frame.clone(),
                });
                delivered += 1;
            }
        }
        metrics::counter!("natter_gateway_deliveries_total").increment(delivered);
        if let Some((target, reason)) = ends_subscription(event) {
            let notice = encode(&ServerFrame::Unsubscribed {
                room_id: room,
                reason: reason.to_owned(),
            });
            let mut sessions = write(sessions);
            sessions.retain(|_, session| {
                let ends = target.is_none_or(|user| user == session.user);
                if ends {
                    session.push(Outbound::Forget {
                        room,
                        notice: Some(notice.clone()),
                    });
                }
                !ends
            });
        }
    }
}

/// Forwards a followed user's presence frames (already encoded by the publisher).
async fn presence_task(mut subscriber: async_nats::Subscriber, sessions: Sessions) {
    while let Some(message) = subscriber.next().await {
        let Ok(text) = std::str::from_utf8(&message.payload) else {
            continue;
        };
        let frame = Utf8Bytes::from(text);
        for session in read(&sessions).values() {
            session.push(Outbound::Frame(frame.clone()));
        }
    }
}

/// How long a typist is shown typing after their last `start` when nothing more is heard (their
/// gateway stops them after 5 s; this covers a gateway that died before it could).
const TYPING_SHOWN: Duration = Duration::from_secs(6);

/// Forwards a room's typing signals to its local sockets, except the typist's own, and sends
/// `stop` for typists not heard from for [`TYPING_SHOWN`].
async fn typing_task(room: Uuid, mut subscriber: async_nats::Subscriber, sessions: Sessions) {
    #[derive(serde::Deserialize)]
    struct Signal {
        user_id: Uuid,
        state: TypingState,
    }
    let forward = |user: Uuid, frame: &Utf8Bytes| {
        for session in read(&sessions).values().filter(|s| s.user != user) {
            session.push(Outbound::Frame(frame.clone()));
        }
    };
    let mut typists: HashMap<Uuid, tokio::time::Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            message = subscriber.next() => {
                let Some(message) = message else { break };
                let Ok(signal) = serde_json::from_slice::<Signal>(&message.payload) else {
                    continue;
                };
                match signal.state {
                    TypingState::Start => {
                        typists.insert(signal.user_id, tokio::time::Instant::now() + TYPING_SHOWN);
                    }
                    TypingState::Stop => {
                        if typists.remove(&signal.user_id).is_none() {
                            continue;
                        }
                    }
                }
                let Ok(text) = std::str::from_utf8(&message.payload) else { continue };
                forward(signal.user_id, &Utf8Bytes::from(text));
            }
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                let gone: Vec<Uuid> =
                    typists.iter().filter(|(_, until)| **until <= now).map(|(u, _)| *u).collect();
                for user in gone {
                    typists.remove(&user);
                    forward(user, &encode(&ServerFrame::Typing { room_id: room, user_id: user, state: TypingState::Stop }));
                }
            }
        }
    }
}

async fn user_task(mut subscriber: async_nats::Subscriber, sessions: Sessions) {
    let mut last_seq = 0u64;
    while let Some(message) = subscriber.next().await {
        let Some(seq) = DeliveryHeaders::seq(&message) else {
            continue;
        };
        if seq <= last_seq {
            continue;
        }
        last_seq = seq;
        let Ok(event) = Event::from_bytes(&message.payload) else {
            continue;
        };
        let frame = encode(&ServerFrame::Notice {
            room_id: event.room_id,
            seq,
            event: wire_event(seq, &event),
        });
        for session in read(&sessions).values() {
            session.push(Outbound::Frame(frame.clone()));
        }
    }
}
