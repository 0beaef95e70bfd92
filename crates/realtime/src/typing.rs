//! Typing signals from this gateway's sockets: throttled per user and room, published on core
//! NATS (never stored), and stopped by the server when the typist goes quiet or disconnects.
//!
//! A typist's `start` is published at most once per [`THROTTLE`]; every `start` (published or
//! not) keeps them typing for [`QUIET`] more. A `stop` is published when they say so, when
//! [`QUIET`] passes without a `start`, or when the socket that typed closes. Receiving gateways
//! also end a typist they have not heard from (their own timer), for a gateway that died.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use natter_bus::Bus;
use natter_common::Shutdown;
use natter_schemas::frames::{ServerFrame, TypingState};
use tokio::time::Instant;
use uuid::Uuid;

/// Shortest time between two published `start`s of one typist in one room.
pub const THROTTLE: Duration = Duration::from_secs(3);
/// How long a typist stays typing after their last `start`.
pub const QUIET: Duration = Duration::from_secs(5);

struct Typist {
    session: Uuid,
    published: Instant,
    until: Instant,
}

#[derive(Clone)]
pub struct Typing(std::sync::Arc<Inner>);

struct Inner {
    bus: Bus,
    typists: Mutex<HashMap<(Uuid, Uuid), Typist>>,
}

impl Typing {
    pub fn new(bus: Bus) -> Self {
        Self(std::sync::Arc::new(Inner {
            bus,
            typists: Mutex::new(HashMap::new()),
        }))
    }

    /// Every 250 ms, stops the typists not heard from in time, until `shutdown`. Its owner
    /// (the gateway) spawns and joins it.
    pub async fn stop_quiet_typists(self, shutdown: Shutdown) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            self.stop_where(|t| t.until <= now).await;
        }
    }

    /// `user` (on socket `session`) is typing in `room`. The caller has checked membership.
    pub async fn start(&self, session: Uuid, user: Uuid, room: Uuid) {
        let now = Instant::now();
        let publish_now = {
            let mut typists = lock(&self.0.typists);
            match typists.get_mut(&(user, room)) {
                Some(t) if now.duration_since(t.published) < THROTTLE => {
                    t.until = now + QUIET;
                    t.session = session;
                    false
                }
                _ => {
                    typists.insert(
                        (user, room),
                        Typist {
                            session,
                            published: now,
                            until: now + QUIET,
                        },
                    );
                    true
                }
            }
        };
        if publish_now {
            publish(&self.0.bus, room, user, TypingState::Start).await;
        }
    }

    /// Whether `user` counts as typing in `room` here (a start within [`THROTTLE`] needs no
    /// membership check: it was checked when it was published).
    pub fn is_recent(&self, user: Uuid, room: Uuid) -> bool {
        lock(&self.0.typists)
            .get(&(user, room))
            .is_some_and(|t| t.published.elapsed() < THROTTLE)
    }

    /// `user` stopped typing in `room`.
    pub async fn stop(&self, user: Uuid, room: Uuid) {
        let was = lock(&self.0.typists).remove(&(user, room)).is_some();
        if was {
            publish(&self.0.bus, room, user, TypingState::Stop).await;
        }
    }

    /// The socket closed: whoever typed on it stopped.
    pub async fn session_closed(&self, session: Uuid) {
        self.stop_where(|t| t.session == session).await;
    }

    /// Stops the typists `ended` picks, and says so.
    async fn stop_where(&self, ended: impl Fn(&Typist) -> bool) {
        let ended: Vec<(Uuid, Uuid)> = lock(&self.0.typists)
            .extract_if(|_, t| ended(t))
            .map(|(key, _)| key)
            .collect();
        for (user, room) in ended {
            publish(&self.0.bus, room, user, TypingState::Stop).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The frame receivers forward as it is.
async fn publish(bus: &Bus, room: Uuid, user: Uuid, state: TypingState) {
    let frame = ServerFrame::Typing {
        room_id: room,
        user_id: user,
        state,
    };
    let payload = Bytes::from(serde_json::to_vec(&frame).unwrap_or_default());
    if let Err(e) = bus
        .notify(bus.subjects().typing_room(room), None, payload)
        .await
    {
        tracing::debug!(error = %e, "typing signal not sent");
    }
}
