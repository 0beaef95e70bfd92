//! Presence: who is online, across every gateway and device. Redis holds it (it may be lost: it
//! is rebuilt by the next heartbeats); core NATS carries changes to the gateways of those who
//! asked for them (`presence_subscribe`), never to everyone who shares a room.
//!
//! Per user, Redis keeps the chosen status and text, `last_seen`, and the user's live sockets,
//! each with an expiry that its gateway pushes forward every third of
//! `NATTER_PRESENCE_TTL_SECS`. A user is online while any socket's expiry is in the future.
//! When the last socket closes, the user goes offline at once; when a gateway dies, its sockets
//! expire and whichever gateway sweeps next (every gateway sweeps every 2 s; the script makes
//! exactly one of them see each change) publishes the user going offline. All changes run as
//! Lua scripts, in Redis time.

mod scripts;

use std::time::Duration;

use bytes::Bytes;
use natter_bus::Bus;
use natter_common::Shutdown;
use natter_schemas::frames::{PresenceStatus, ServerFrame};
use natter_schemas::model::UserPresence;
use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::hub::Hub;
use crate::lua::{self, script};
use scripts::{CONNECT, DISCONNECT, HEARTBEAT, READ, SWEEP};

/// Presence could not be read or changed: Redis failed, or (for who may see whom) the
/// database.
#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type PresenceResult<T> = Result<T, PresenceError>;

#[derive(Debug, Clone, clap::Args)]
pub struct PresenceConfig {
    /// Seconds a socket counts as live without a heartbeat from its gateway: how long a dead
    /// gateway's users stay online at most (plus a sweep).
    #[arg(long, env = "NATTER_PRESENCE_TTL_SECS", default_value_t = 30)]
    pub presence_ttl_secs: u64,
}

impl Default for PresenceConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

/// How a user whose presence the viewer may not see looks.
fn hidden(user: Uuid) -> UserPresence {
    UserPresence {
        user_id: user,
        status: PresenceStatus::Offline,
        text: None,
        last_seen: None,
    }
}

/// The presence store (Redis) failed or did not answer: presence may be lost.
pub use crate::lua::StoreError;

fn frame(p: &UserPresence) -> ServerFrame {
    ServerFrame::Presence {
        user_id: p.user_id,
        status: p.status,
        text: p.text.clone(),
        last_seen: p.last_seen,
    }
}

#[derive(Clone)]
pub struct Presence {
    redis: ConnectionManager,
    bus: Bus,
    prefix: String,
    ttl: Duration,
}

impl Presence {
    pub fn new(config: &PresenceConfig, redis: ConnectionManager, bus: Bus) -> Self {
        let prefix = bus.subjects().redis_prefix();
        Self {
            redis,
            bus,
            prefix,
            ttl: Duration::from_secs(config.presence_ttl_secs.max(1)),
        }
    }

    fn key(&self, kind: &str, user: Uuid) -> String {
        format!("{}{kind}:{user}", self.prefix)
    }

    async fn eval<T: redis::FromRedisValue>(
        &self,
        body: &str,
        keys: &[String],
        args: &[String],
    ) -> Result<T, StoreError> {
        lua::eval(&self.redis, body, keys, args).await
    }

    fn ttl_ms(&self) -> String {
        self.ttl.as_millis().to_string()
    }

    /// A socket of `user` opened.
    pub async fn connected(&self, user: Uuid, session: Uuid) {
        let keys = [
            self.key("conns", user),
            self.bus.subjects().redis_live_users(),
        ];
        let args = [user.to_string(), session.to_string(), self.ttl_ms()];
        match self.eval::<i64>(CONNECT, &keys, &args).await {
            Ok(1) => {
                if let Err(e) = self.announce(user).await {
                    tracing::warn!(%user, error = %e, "presence change not announced");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "presence not recorded"),
        }
    }

    /// A socket of `user` closed.
    pub async fn disconnected(&self, user: Uuid, session: Uuid) {
        let keys = [
            self.key("conns", user),
            self.key("pres", user),
            self.bus.subjects().redis_live_users(),
        ];
        match self
            .eval::<i64>(DISCONNECT, &keys, &[session.to_string(), user.to_string()])
            .await
        {
            Ok(1) => {
                if let Err(e) = self.announce(user).await {
                    tracing::warn!(%user, error = %e, "presence change not announced");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "presence not recorded"),
        }
    }

    /// The user chose a status (and text; `None` keeps it, `""` clears it).
    pub async fn set(
        &self,
        user: Uuid,
        status: PresenceStatus,
        text: Option<&str>,
    ) -> PresenceResult<UserPresence> {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(self.key("pres", user))
            .arg("status")
            .arg(status.as_str());
        if let Some(text) = text {
            cmd.arg("text").arg(text);
        }
        lua::query::<i64>(&self.redis, cmd).await?;
        Ok(self.announce(user).await?)
    }

    /// Which of `users` `viewer` may see the presence of: themself, and those who share with
    /// them a room or conversation they chose themselves (created, joined, accepted or posted
    /// in; see [`natter_schemas::consent`]), with no block either way. Others look offline (no
    /// text, no `last_seen`), as an unknown id does, so presence cannot be used to watch
    /// strangers, nor anyone by putting them in a room.
    pub async fn visible_to(
        &self,
        pool: &sqlx::PgPool,
        viewer: Uuid,
        users: &[Uuid],
    ) -> PresenceResult<Vec<Uuid>> {
        let mut visible =
            natter_projections::history::queries::seen_by(pool, viewer, users).await?;
        if users.contains(&viewer) && !visible.contains(&viewer) {
            visible.push(viewer);
        }
        Ok(visible)
    }

    /// The presence of each of `users` as `viewer` sees it (see [`Presence::visible_to`]).
    pub async fn read_for(
        &self,
        pool: &sqlx::PgPool,
        viewer: Uuid,
        users: &[Uuid],
    ) -> PresenceResult<Vec<UserPresence>> {
        let visible = self.visible_to(pool, viewer, users).await?;
        self.read_shown(users, &visible).await
    }

    /// The presence of each of `users`, those not in `visible` looking offline.
    pub async fn read_shown(
        &self,
        users: &[Uuid],
        visible: &[Uuid],
    ) -> PresenceResult<Vec<UserPresence>> {
        let shown: Vec<Uuid> = users
            .iter()
            .copied()
            .filter(|u| visible.contains(u))
            .collect();
        let mut read = self.read(&shown).await?.into_iter();
        Ok(users
            .iter()
            .map(|&user| {
                if visible.contains(&user) {
                    read.next().unwrap_or_else(|| hidden(user))
                } else {
                    hidden(user)
                }
            })
            .collect())
    }

    /// The presence of each of `users`, as others see it (one round trip to Redis).
    pub async fn read(&self, users: &[Uuid]) -> Result<Vec<UserPresence>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let script = script(READ);
        let mut pipe = redis::pipe();
        for &user in users {
            pipe.cmd("EVAL")
                .arg(&script)
                .arg(2)
                .arg(self.key("conns", user))
                .arg(self.key("pres", user));
        }
        let answers: Vec<(i64, String, String, String)> =
            lua::query_pipe(&self.redis, &pipe).await?;
        let mut out = Vec::with_capacity(users.len());
        for (&user, (live, status, text, last_seen)) in users.iter().zip(answers) {
            let chosen = PresenceStatus::parse(&status).unwrap_or(PresenceStatus::Online);
            let status = if live == 0 || chosen == PresenceStatus::Invisible {
                PresenceStatus::Offline
            } else {
                chosen
            };
            let last_seen = (status == PresenceStatus::Offline)
                .then(|| last_seen.parse::<i64>().ok())
                .flatten()
                .and_then(chrono::DateTime::from_timestamp_millis);
            out.push(UserPresence {
                user_id: user,
                status,
                text: (!text.is_empty() && status != PresenceStatus::Offline).then_some(text),
                last_seen,
            });
        }
        Ok(out)
    }

    /// Publishes `user`'s presence to the gateways of those who follow it.
    async fn announce(&self, user: Uuid) -> Result<UserPresence, StoreError> {
        let now = self
            .read(&[user])
            .await?
            .pop()
            .unwrap_or_else(|| hidden(user));
        let payload = Bytes::from(serde_json::to_vec(&frame(&now)).unwrap_or_default());
        let _ = self
            .bus
            .notify(self.bus.subjects().presence(user), None, payload)
            .await;
        Ok(now)
    }

    /// Pushes the expiry of every local socket forward: one pipelined round trip per 500
    /// users, not one per user.
    async fn heartbeat(&self, users: Vec<(Uuid, Vec<Uuid>)>) {
        let script = script(HEARTBEAT);
        let live = self.bus.subjects().redis_live_users();
        for chunk in users.chunks(500) {
            let mut pipe = redis::pipe();
            for (user, sessions) in chunk {
                let cmd = pipe
                    .cmd("EVAL")
                    .arg(&script)
                    .arg(2)
                    .arg(self.key("conns", *user))
                    .arg(&live)
                    .arg(user.to_string())
                    .arg(self.ttl_ms());
                for session in sessions {
                    cmd.arg(session.to_string());
                }
                cmd.ignore();
            }
            if let Err(e) = lua::query_pipe::<()>(&self.redis, &pipe).await {
                tracing::warn!(error = %e, "presence heartbeat failed");
                return;
            }
        }
    }

    /// Heartbeats for this gateway's sockets, and sweeps of everyone's expired ones, until
    /// `shutdown`. Its owner (the gateway) spawns and joins it.
    pub async fn keep(self, hub: Hub, shutdown: Shutdown) {
        let presence = self;
        let mut beat = tokio::time::interval(presence.ttl / 3);
        let mut sweep = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                _ = beat.tick() => presence.heartbeat(hub.local_users().await).await,
                _ = sweep.tick() => {
                    let keys = [presence.bus.subjects().redis_live_users()];
                    match presence.eval::<Vec<String>>(SWEEP, &keys, std::slice::from_ref(&presence.prefix)).await {
                        Ok(gone) => {
                            for user in gone.iter().filter_map(|u| u.parse::<Uuid>().ok()) {
                                tracing::info!(%user, "user went offline: their sockets expired");
                                if let Err(e) = presence.announce(user).await {
                                    tracing::warn!(%user, error = %e, "offline not announced");
                                }
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "presence sweep failed"),
                    }
                }
            }
        }
    }
}
