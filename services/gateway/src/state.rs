//! What every handler and session shares. Built once by [`AppState::new`], passed down, never
//! global.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use natter_bus::Bus;
use natter_common::Shutdown;
use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::unread::Unread;
use sqlx::PgPool;

use crate::auth::Tokens;
use crate::config::GatewayConfig;
use crate::error::ApiError;
use crate::files::Files;
use crate::moderation::Blocklist;
use crate::ratelimit::Limiter;
use crate::sent::SentIds;
use natter_realtime::hub::Hub;
use natter_realtime::presence::Presence;
use natter_realtime::readwait::{CheckpointFeed, ProjectionWatch};
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
    config: GatewayConfig,
    bus: Bus,
    pool: PgPool,
    redis: redis::aio::ConnectionManager,
    tokens: Tokens,
    hub: Hub,
    /// This gateway's id (admin answers name it).
    gateway_id: uuid::Uuid,
    /// Every open socket's session, so that the drain can wait for them.
    sessions: tokio_util::task::TaskTracker,
    /// (when, log head) samples of the last ~10 s, for events/s.
    log_samples: std::sync::Mutex<std::collections::VecDeque<(std::time::Instant, u64)>>,
    presence: Presence,
    typing: Typing,
    calls: natter_realtime::calls::store::CallStore,
    gifs: Option<Box<dyn crate::gifs::provider::GifProvider>>,
    limiter: Limiter,
    blocklist: Blocklist,
    history: ProjectionWatch,
    unread: ProjectionWatch,
    search: ProjectionWatch,
    checkpoints: CheckpointFeed,
    files: Files,
    /// Which message ids each sender here has posted (a send's duplicate check).
    sent: SentIds,
    metrics: Option<PrometheusHandle>,
    shutdown: Shutdown,
    /// Open connections, capped in all and per client address.
    conns: crate::net::Conns,
    /// Whether tokens are still good, cached.
    revocations: crate::auth::revocation::Revocations,
    refresh: crate::auth::refresh::RefreshTokens,
    seen: crate::auth::seen::Seen,
    /// Delivery receipts told since the last flush.
    delivered: natter_realtime::receipts::Delivered,
    vault: natter_vault::Vault,
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
        let blocklist = Blocklist::from_config(&config.moderation)?;
        let tokens = Tokens::new(
            config.jwt_secret().as_bytes(),
            Duration::from_secs(config.token_ttl_secs),
        );
        let ([history, unread, search], checkpoints) = ProjectionWatch::start_all(
            &deps.bus,
            deps.pool.clone(),
            [History::NAME, Unread::NAME, Search::NAME],
        )
        .await;
        let files = Files::open(config.files.clone(), config.jwt_secret())
            .map_err(|e| std::io::Error::other(format!("cannot open the file store: {e}")))?;
        let hub = Hub::new(
            deps.bus.clone(),
            deps.pool.clone(),
            files.urls.clone(),
            deps.vault.clone(),
        );
        let sent = SentIds::new(
            deps.bus.clone(),
            deps.pool.clone(),
            history.clone(),
            deps.bus.duplicate_window().unwrap_or_default(),
            config.read_wait(),
        );
        let typing = Typing::new(deps.bus.clone());
        let calls = natter_realtime::calls::store::CallStore::new(
            deps.redis.clone(),
            deps.bus.subjects().redis_prefix(),
        );
        let presence = Presence::new(&config.presence, deps.redis.clone(), deps.bus.clone());
        let limiter = Limiter::new(
            config.rate.clone(),
            deps.redis.clone(),
            deps.bus.subjects().redis_prefix(),
        );
        let gifs = crate::gifs::giphy::configured(&config.gifs);
        let revocations = crate::auth::revocation::Revocations::new(
            deps.pool.clone(),
            Duration::from_millis(config.revocation_cache_ms),
        );
        let seen =
            crate::auth::seen::Seen::new(deps.redis.clone(), deps.bus.subjects().redis_prefix());
        let refresh = crate::auth::refresh::RefreshTokens::new(
            config.jwt_secret().as_bytes(),
            Duration::from_secs(config.refresh_ttl_secs),
        );
        let config_net = config.net.clone();
        let state = Self(Arc::new(Inner {
            config,
            bus: deps.bus,
            pool: deps.pool,
            redis: deps.redis,
            tokens,
            hub,
            gateway_id: uuid::Uuid::now_v7(),
            sessions: tokio_util::task::TaskTracker::new(),
            log_samples: std::sync::Mutex::new(std::collections::VecDeque::new()),
            presence,
            typing,
            calls,
            gifs,
            limiter,
            blocklist,
            history,
            unread,
            search,
            checkpoints,
            files,
            sent,
            metrics: deps.metrics,
            shutdown,
            conns: crate::net::Conns::new(
                config_net.max_connections,
                config_net.max_connections_per_ip,
            ),
            revocations,
            refresh,
            seen,
            delivered: natter_realtime::receipts::Delivered::default(),
            vault: deps.vault,
        }));
        Ok(state)
    }

    pub fn revocations(&self) -> &crate::auth::revocation::Revocations {
        &self.0.revocations
    }

    pub fn refresh_tokens(&self) -> &crate::auth::refresh::RefreshTokens {
        &self.0.refresh
    }

    pub fn seen(&self) -> &crate::auth::seen::Seen {
        &self.0.seen
    }

    pub fn vault(&self) -> &natter_vault::Vault {
        &self.0.vault
    }

    pub fn delivered(&self) -> &natter_realtime::receipts::Delivered {
        &self.0.delivered
    }

    pub fn conns(&self) -> &crate::net::Conns {
        &self.0.conns
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.0.config
    }
    pub fn bus(&self) -> &Bus {
        &self.0.bus
    }
    pub fn pool(&self) -> &PgPool {
        &self.0.pool
    }
    pub fn redis(&self) -> redis::aio::ConnectionManager {
        self.0.redis.clone()
    }
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }
    pub fn hub(&self) -> &Hub {
        &self.0.hub
    }
    /// The tasks of the state's own parts while the gateway runs (the metrics' upkeep, the
    /// read models' checkpoints, the log sampler), each ending at shutdown; the gateway's
    /// other tasks are put together with them in [`crate::run`]. Constructing the state spawns
    /// nothing.
    pub(crate) fn own_tasks(&self) -> Vec<futures::future::BoxFuture<'static, ()>> {
        use futures::FutureExt;
        let shutdown = self.0.shutdown.clone();
        let this = self.clone();
        let mut tasks = Vec::new();
        if let Some(metrics) = self.0.metrics.clone() {
            tasks.push(metrics_upkeep(metrics, shutdown.clone()).boxed());
        }
        tasks.push(async move { this.0.checkpoints.run(shutdown).await }.boxed());
        tasks.push(self.clone().sample_log().boxed());
        tasks
    }

    /// The open sockets' sessions.
    pub fn sessions(&self) -> &tokio_util::task::TaskTracker {
        &self.0.sessions
    }

    /// This gateway's id (the admin API names its sockets by it).
    pub fn gateway_id(&self) -> uuid::Uuid {
        self.0.gateway_id
    }

    /// Samples the log's head every 2 s for [`AppState::event_rate`], until shutdown. Its
    /// owner ([`crate::run`]) spawns and joins it.
    pub async fn sample_log(self) {
        let shutdown = self.0.shutdown.clone();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                _ = tick.tick() => {}
            }
            if let Ok(seq) = self.0.bus.last_seq().await {
                let mut samples = self
                    .0
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

    /// Events appended per second over the last samples (0 until there are two).
    pub fn event_rate(&self) -> f64 {
        let samples = self
            .0
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

    pub fn files(&self) -> &Files {
        &self.0.files
    }
    /// How messages read now name their files (signed URLs of the current window).
    pub fn file_urls(&self) -> &dyn natter_schemas::files::FileUrls {
        &*self.0.files.urls
    }
    /// A reader of messages: `user`, with this gateway's file URLs.
    pub fn viewer(&self, user: uuid::Uuid) -> natter_projections::history::queries::Viewer<'_> {
        natter_projections::history::queries::Viewer {
            id: user,
            urls: self.file_urls(),
        }
    }
    pub fn presence(&self) -> &Presence {
        &self.0.presence
    }
    /// The GIF search provider, when one is configured.
    pub fn gifs(&self) -> Option<&dyn crate::gifs::provider::GifProvider> {
        self.0.gifs.as_deref()
    }
    pub fn calls(&self) -> &natter_realtime::calls::store::CallStore {
        &self.0.calls
    }
    pub fn typing(&self) -> &Typing {
        &self.0.typing
    }
    pub fn limiter(&self) -> &Limiter {
        &self.0.limiter
    }
    pub fn blocklist(&self) -> &Blocklist {
        &self.0.blocklist
    }
    pub fn history(&self) -> &ProjectionWatch {
        &self.0.history
    }
    pub fn sent(&self) -> &SentIds {
        &self.0.sent
    }
    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.0.metrics.as_ref()
    }
    pub fn shutdown(&self) -> &Shutdown {
        &self.0.shutdown
    }

    /// Waits until the history read model has applied `seq` (read-your-writes), or answers
    /// `unavailable` after `NATTER_READ_WAIT_MS`.
    pub async fn projected(&self, seq: u64) -> Result<(), ApiError> {
        self.wait(&self.0.history, seq).await
    }

    /// Like [`AppState::projected`], for history and unread both: what a change of rooms or
    /// membership needs before `GET /v1/rooms` and `GET /v1/unread` both show it.
    pub async fn projected_rooms(&self, seq: u64) -> Result<(), ApiError> {
        let (history, unread) = tokio::join!(self.projected(seq), self.projected_unread(seq));
        history.and(unread)
    }

    /// Like [`AppState::projected`], for the unread model.
    pub async fn projected_unread(&self, seq: u64) -> Result<(), ApiError> {
        self.wait(&self.0.unread, seq).await
    }

    /// Like [`AppState::projected`], for the search index.
    pub async fn projected_search(&self, seq: u64) -> Result<(), ApiError> {
        self.wait(&self.0.search, seq).await
    }

    /// A client's `min_seq`, refused at once when past the log's head (it could never be
    /// reached), naming the head.
    pub async fn min_seq_reachable(&self, seq: u64) -> Result<(), ApiError> {
        if seq <= self.0.history.current() {
            return Ok(());
        }
        let head = self.bus().last_seq().await?;
        if seq <= head {
            return Ok(());
        }
        Err(ApiError::invalid(
            "min_seq",
            format!("the log's head is seq {head}: min_seq cannot be past it"),
        ))
    }

    async fn wait(&self, watch: &ProjectionWatch, seq: u64) -> Result<(), ApiError> {
        if watch.wait_for(seq, self.config().read_wait()).await {
            Ok(())
        } else {
            Err(ApiError::unavailable(format!(
                "the read models have not reached seq {seq} yet; retry shortly"
            )))
        }
    }
}
