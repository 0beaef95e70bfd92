//! The worker: reads message events from the log (its own durable consumer, acked cumulatively:
//! its checkpoint) and sends each post's notifications.
//!
//! Crash and redelivery: a batch is acked once each of its notifications was delivered or given
//! up; a crash before that sends the batch's again, with the same ids: at least once, and the
//! receiver drops repeats by `id` (`Idempotency-Key`). A post is only sent once history shows
//! it (not void, not deleted since), so no notification names a message its reader could not
//! read; whether a person is connected is read from Redis just before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use natter_bus::{Bus, BusError, WorkerConsumer};
use natter_common::{Ready, Shutdown};
use natter_projections::history::{History, queries};
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use sqlx::PgPool;
use uuid::Uuid;

use crate::webhook::{Notification, Webhook};

/// The durable consumer's role name.
pub const ROLE: &str = "push";

/// How long a batch may take before JetStream delivers it again: each notification's attempts
/// (with their backoff) fit well within it.
const ACK_WAIT: Duration = Duration::from_secs(900);
/// Posts per batch, per call in flight.
const BATCH_PER_CALL: usize = 4;
/// The start of a message a notification carries, in characters.
const TEXT_CHARS: usize = 200;
/// Longest wait for history to reach a post.
const HISTORY_WAIT: Duration = Duration::from_secs(30);
/// Rooms whose kind is remembered; past it the memory starts over.
const ROOMS_REMEMBERED: usize = 100_000;

/// Why the worker stopped handling a batch: it is read again from the last ack.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("history: {0}")]
    Db(#[from] natter_projections::ProjectionError),
    #[error("history: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("history has not reached seq {0}")]
    Behind(u64),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

pub(crate) struct Worker {
    pub bus: Bus,
    pub pool: PgPool,
    pub redis: redis::aio::ConnectionManager,
    pub hook: Webhook,
    pub concurrency: usize,
    /// Where the gateways keep who has live sockets.
    pub live_key: String,
    /// Whether each room seen is a direct conversation (kinds never change).
    pub dm_rooms: Mutex<HashMap<Uuid, bool>>,
}

/// Returns the users among `ARGV` with a socket that has not expired (on Redis's clock).
const LIVE: &str = "
local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)
local live = {}
for _, user in ipairs(ARGV) do
  local expiry = redis.call('ZSCORE', KEYS[1], user)
  if expiry and tonumber(expiry) > now then table.insert(live, user) end
end
return live";

impl Worker {
    /// Handles batches until `shutdown`.
    pub async fn run(self, shutdown: Shutdown, ready: Ready) -> Result<(), BusError> {
        // Message events only; a new deployment notifies nobody of old messages.
        let consumer = WorkerConsumer {
            role: ROLE,
            filter: self.bus.subjects().room_messages(),
            ack_wait: ACK_WAIT,
            batch: self.concurrency * BATCH_PER_CALL,
        };
        let this = &self;
        consumer
            .run(&self.bus, &shutdown, ready, |events| this.handle(events))
            .await
    }

    /// Sends the notifications of the batch's posts, a few calls at a time.
    async fn handle(&self, events: Vec<(u64, Event)>) -> Result<(), WorkerError> {
        let mut notifications = Vec::new();
        for (seq, event) in &events {
            notifications.extend(self.notifications(*seq, event).await?);
        }
        let calls: Vec<_> = notifications.iter().map(|n| self.hook.send(n)).collect();
        let mut calls = futures::stream::iter(calls).buffer_unordered(self.concurrency);
        while calls.next().await.is_some() {}
        Ok(())
    }

    /// Whom the post at `seq` should reach now, as notifications.
    async fn notifications(
        &self,
        seq: u64,
        event: &Event,
    ) -> Result<Vec<Notification>, WorkerError> {
        let (EventBody::MessagePosted(post), Some(room)) = (&event.body, event.room_id) else {
            return Ok(Vec::new());
        };
        if post.mentions.is_empty() && !self.is_dm(room).await? {
            return Ok(Vec::new());
        }
        let sender = event.actor_id;
        if !self.shown(seq, post.message_id, sender).await? {
            return Ok(Vec::new());
        }
        let targets = queries::push_targets(&self.pool, room, sender, &post.mentions).await?;
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let live = self.live(targets.iter().map(|t| t.0)).await?;
        let sender_name = queries::user(&self.pool, sender)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_default();
        let text = post
            .encrypted
            .is_none()
            .then(|| post.body.chars().take(TEXT_CHARS).collect::<String>());
        Ok(targets
            .into_iter()
            .filter(|(user, _)| !live.contains(user))
            .map(|(user, mentioned)| Notification {
                id: format!("{}:{user}", post.message_id),
                user_id: user,
                reason: if mentioned { "mention" } else { "direct" }.to_owned(),
                room_id: room,
                seq,
                message_id: post.message_id,
                sender_id: sender,
                sender_name: sender_name.clone(),
                text: text.clone(),
                sent_at: event.occurred_at,
            })
            .collect())
    }

    async fn is_dm(&self, room: Uuid) -> Result<bool, WorkerError> {
        if let Some(known) = self.known_kind(room) {
            return Ok(known);
        }
        let dm = queries::room(&self.pool, room, Uuid::nil())
            .await?
            .is_some_and(|r| r.kind == natter_schemas::model::RoomKind::Dm);
        let mut rooms = self.dm_rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.len() >= ROOMS_REMEMBERED {
            rooms.clear();
        }
        rooms.insert(room, dm);
        Ok(dm)
    }

    fn known_kind(&self, room: Uuid) -> Option<bool> {
        self.dm_rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&room)
            .copied()
    }

    /// Whether history, once it has read the log through `seq`, shows the post (it is not
    /// void, and not deleted since).
    async fn shown(&self, seq: u64, message: Uuid, sender: Uuid) -> Result<bool, WorkerError> {
        let deadline = tokio::time::Instant::now() + HISTORY_WAIT;
        while natter_projections::checkpoint(&self.pool, History::NAME).await? < seq {
            if tokio::time::Instant::now() > deadline {
                return Err(WorkerError::Behind(seq));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let state = queries::message_state(&self.pool, message, sender, None).await?;
        Ok(state.is_some_and(|m| !m.deleted))
    }

    /// Which of `users` have a live socket.
    async fn live(&self, users: impl Iterator<Item = Uuid>) -> Result<Vec<Uuid>, WorkerError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(LIVE).arg(1).arg(&self.live_key);
        for user in users {
            cmd.arg(user.to_string());
        }
        let mut redis = self.redis.clone();
        let live: Vec<String> = cmd.query_async(&mut redis).await?;
        Ok(live.iter().filter_map(|u| u.parse().ok()).collect())
    }
}
