//! What every handler and session shares. Built once by [`AppState::new`], passed down, never
//! global: the chat actions' handle ([`Actions`]) and what only a gateway has (its config,
//! sockets, presence, typing, files, GIF search, metrics). Each is a handle of its own that
//! handlers take by `State<...>` ([`FromRef`](axum::extract::FromRef)); the WebSocket
//! session takes the whole state.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use natter_actions::{Actions, Connections};
use natter_bus::Bus;
use natter_common::Shutdown;
use sqlx::PgPool;

use crate::config::GatewayConfig;
use crate::files::Files;
use crate::gifs::provider::Gifs;
use natter_realtime::presence::Presence;
use natter_realtime::readwait::CheckpointFeed;
use natter_realtime::typing::Typing;

/// The connections a gateway needs.
pub struct Deps {
    pub bus: Bus,
    pub pool: PgPool,
    pub redis: redis::aio::ConnectionManager,
    pub metrics: Option<PrometheusHandle>,
    /// The keys personal data is sealed with (registered on `bus` for unsealing).
    pub vault: natter_vault::Vault,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    actions: Actions,
    config: Arc<GatewayConfig>,
    sockets: Sockets,
    files: Arc<Files>,
    gifs: Gifs,
    ops: Arc<Ops>,
}

/// What a gateway's sockets share live, beside the actions' hub.
struct Sockets {
    presence: Presence,
    typing: Typing,
    /// Delivery receipts told since the last flush.
    delivered: natter_realtime::receipts::Delivered,
}

/// What running a gateway takes: its id, its sockets and connections, its metrics. A
/// handler that reports on the gateway takes `State<Arc<Ops>>`.
pub struct Ops {
    /// This gateway's id (admin answers name it).
    gateway_id: uuid::Uuid,
    /// Every open socket's session, so that the drain can wait for them.
    sessions: tokio_util::task::TaskTracker,
    /// Open connections, capped in all and per client address.
    conns: crate::net::Conns,
    /// (when, log head) samples of the last ~10 s, for events/s.
    log_samples: std::sync::Mutex<std::collections::VecDeque<(std::time::Instant, u64)>>,
    /// Moves the read models' watches on.
    checkpoints: CheckpointFeed,
    metrics: Option<PrometheusHandle>,
    shutdown: Shutdown,
    redis: redis::aio::ConnectionManager,
}

/// A handler that needs only the actions takes `State<Actions>`.
impl axum::extract::FromRef<AppState> for Actions {
    fn from_ref(state: &AppState) -> Actions {
        state.0.actions.clone()
    }
}

/// Drains the recorded histogram samples into their summaries every 5 s, until `shutdown`.
/// Without it each sample stays in memory until `/metrics` is scraped: a send's latency is
/// one sample, so a gateway nobody scraped grew by some 8 bytes a message (found in a soak).
async fn metrics_upkeep(metrics: PrometheusHandle, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            _ = tick.tick() => metrics.run_upkeep(),
        }
    }
}

impl AppState {
    /// Fails when the configuration names a file that cannot be read (the blocklist).
    pub async fn new(
        config: GatewayConfig,
        deps: Deps,
        shutdown: Shutdown,
    ) -> std::io::Result<Self> {
        let files = Files::open(config.files.clone(), config.jwt_secret())
            .map_err(|e| std::io::Error::other(format!("cannot open the file store: {e}")))?;
        let connections = Connections {
            bus: deps.bus.clone(),
            pool: deps.pool,
            redis: deps.redis.clone(),
            vault: deps.vault,
        };
        let (actions, checkpoints) =
            Actions::start(connections, config.actions_settings(), files.urls.clone()).await?;
        let typing = Typing::new(deps.bus.clone());
        let presence = Presence::new(&config.presence, deps.redis.clone(), deps.bus.clone());
        let gifs = Gifs(crate::gifs::giphy::configured(&config.gifs).map(Arc::from));
        let conns = crate::net::Conns::new(
            config.net.max_connections,
            config.net.max_connections_per_ip,
        );
        let state = Self(Arc::new(Inner {
            actions,
            config: Arc::new(config),
            sockets: Sockets {
                presence,
                typing,
                delivered: natter_realtime::receipts::Delivered::default(),
            },
            files: Arc::new(files),
            gifs,
            ops: Arc::new(Ops {
                gateway_id: uuid::Uuid::now_v7(),
                sessions: tokio_util::task::TaskTracker::new(),
                conns,
                log_samples: std::sync::Mutex::new(std::collections::VecDeque::new()),
                checkpoints,
                metrics: deps.metrics,
                shutdown,
                redis: deps.redis,
            }),
        }));

        Ok(state)
    }

    pub fn delivered(&self) -> &natter_realtime::receipts::Delivered {
        &self.0.sockets.delivered
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.0.config
    }
    /// The chat actions.
    pub fn actions(&self) -> &Actions {
        &self.0.actions
    }

    /// What running this gateway takes.
    pub fn ops(&self) -> &Ops {
        &self.0.ops
    }
    /// The tasks of the state's own parts while the gateway runs (the metrics' upkeep, the
    /// read models' checkpoints, the log sampler), each ending at shutdown; the gateway's
    /// other tasks are put together with them in [`crate::run`]. Constructing the state spawns
    /// nothing.
    pub(crate) fn own_tasks(&self) -> Vec<futures::future::BoxFuture<'static, ()>> {
        use futures::FutureExt;
        let shutdown = self.0.ops.shutdown.clone();
        let this = self.clone();
        let mut tasks = Vec::new();
        if let Some(metrics) = self.0.ops.metrics.clone() {
            tasks.push(metrics_upkeep(metrics, shutdown.clone()).boxed());
        }
        tasks.push(async move { this.0.ops.checkpoints.run(shutdown).await }.boxed());
        tasks.push(self.clone().sample_log().boxed());
        tasks
    }

    /// Samples the log's head every 2 s for [`Ops::event_rate`], until shutdown. Its
    /// owner ([`crate::run`]) spawns and joins it.
    pub async fn sample_log(self) {
        let shutdown = self.0.ops.shutdown.clone();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                _ = tick.tick() => {}
            }
            if let Ok(seq) = self.0.actions.bus().last_seq().await {
                let mut samples = self
                    .0
                    .ops
                    .log_samples
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                samples.push_back((std::time::Instant::now(), seq));
                while samples.len() > 6 {
                    samples.pop_front();
                }
            }
        }
    }

    pub fn files(&self) -> &Files {
        &self.0.files
    }
    pub fn presence(&self) -> &Presence {
        &self.0.sockets.presence
    }
    pub fn typing(&self) -> &Typing {
        &self.0.sockets.typing
    }
}

impl Ops {
    /// Open connections, capped in all and per client address.
    pub fn conns(&self) -> &crate::net::Conns {
        &self.conns
    }
    pub fn redis(&self) -> redis::aio::ConnectionManager {
        self.redis.clone()
    }
    /// The open sockets' sessions.
    pub fn sessions(&self) -> &tokio_util::task::TaskTracker {
        &self.sessions
    }
    /// This gateway's id (the admin API names its sockets by it).
    pub fn gateway_id(&self) -> uuid::Uuid {
        self.gateway_id
    }
    /// Events appended per second over the last samples (0 until there are two).
    pub fn event_rate(&self) -> f64 {
        let samples = self
            .log_samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (samples.front(), samples.back()) {
            (Some((t0, s0)), Some((t1, s1))) if t1 > t0 => {
                s1.saturating_sub(*s0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.metrics.as_ref()
    }
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }
}

impl axum::extract::FromRef<AppState> for Arc<Ops> {
    fn from_ref(state: &AppState) -> Self {
        state.0.ops.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<GatewayConfig> {
    fn from_ref(state: &AppState) -> Self {
        state.0.config.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<Files> {
    fn from_ref(state: &AppState) -> Self {
        state.0.files.clone()
    }
}

impl axum::extract::FromRef<AppState> for Gifs {
    fn from_ref(state: &AppState) -> Self {
        state.0.gifs.clone()
    }
}

impl axum::extract::FromRef<AppState> for Presence {
    fn from_ref(state: &AppState) -> Self {
        state.0.sockets.presence.clone()
    }
}
