//! natter-push: the push hook. A worker (`natter up` runs it; `natter push` alone) reads posted
//! messages from the log with its own durable consumer (its checkpoint), works out whom each
//! should reach while they are not connected (mentions, and direct messages, as each user's
//! notification settings say: [`natter_projections::history::queries::push_targets`]), leaves
//! out those with a live socket, and calls the configured webhook once per message and person,
//! signed, retried with backoff, at least once ([`webhook`]), so that an app's push service
//! can reach phones.

mod webhook;
mod worker;

use std::time::Duration;

use natter_bus::{Bus, BusError};
use natter_common::config::Checks;
use natter_common::{Ready, Shutdown};
use sqlx::PgPool;

pub use webhook::{Notification, SIGNATURE_HEADER, sign};
pub use worker::ROLE;

/// The push hook's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct PushConfig {
    /// Where notifications are POSTed (empty: no push hook; the worker idles).
    #[arg(long, env = "NATTER_PUSH_WEBHOOK_URL", default_value = "")]
    pub push_webhook_url: String,
    /// The key of the `Natter-Signature` header (HMAC-SHA256 of `<timestamp>.<body>`), at least
    /// 32 bytes: the receiver checks it.
    #[arg(long, env = "NATTER_PUSH_WEBHOOK_SECRET", hide_env_values = true)]
    pub push_webhook_secret: Option<String>,
    /// Longest one call may take, in milliseconds.
    #[arg(long, env = "NATTER_PUSH_TIMEOUT_MS", default_value_t = 5000)]
    pub push_timeout_ms: u64,
    /// Attempts per notification before it is given up (logged and counted), with backoff
    /// doubling from 500 ms (at most 30 s between attempts).
    #[arg(long, env = "NATTER_PUSH_ATTEMPTS", default_value_t = 8)]
    pub push_attempts: u32,
    /// Calls in flight at once.
    #[arg(long, env = "NATTER_PUSH_CONCURRENCY", default_value_t = 8)]
    pub push_concurrency: usize,
}

impl Default for PushConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

impl PushConfig {
    pub fn enabled(&self) -> bool {
        !self.push_webhook_url.is_empty()
    }

    /// Adds the settings that cannot work to `checks`.
    pub fn check(&self, checks: &mut Checks) {
        if !self.enabled() {
            return;
        }
        let url = reqwest::Url::parse(&self.push_webhook_url);
        checks.require(
            url.as_ref()
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https")),
            "NATTER_PUSH_WEBHOOK_URL",
            || format!("{}: use an http or https URL", self.push_webhook_url),
        );
        let secret = self.push_webhook_secret.as_ref().map_or(0, String::len);
        checks.require(secret >= 32, "NATTER_PUSH_WEBHOOK_SECRET", || {
            format!("{secret} bytes: set at least 32 random bytes with a push webhook")
        });
        checks.require(
            (100..=60_000).contains(&self.push_timeout_ms),
            "NATTER_PUSH_TIMEOUT_MS",
            || format!("{} ms: use 100 to 60000", self.push_timeout_ms),
        );
        checks.require(
            (1..=20).contains(&self.push_attempts),
            "NATTER_PUSH_ATTEMPTS",
            || format!("{}: use 1 to 20", self.push_attempts),
        );
        checks.require(
            (1..=256).contains(&self.push_concurrency),
            "NATTER_PUSH_CONCURRENCY",
            || format!("{}: use 1 to 256", self.push_concurrency),
        );
    }
}

/// Runs the push hook until `shutdown` (idle, but ready, when no webhook is configured).
pub async fn run(
    bus: Bus,
    pool: PgPool,
    redis: redis::aio::ConnectionManager,
    config: PushConfig,
    shutdown: Shutdown,
    ready: Ready,
) -> Result<(), BusError> {
    if !config.enabled() {
        ready.started();
        shutdown.wait().await;
        return Ok(());
    }
    let hook = webhook::Webhook::new(
        config.push_webhook_url.clone(),
        config.push_webhook_secret.clone().unwrap_or_default(),
        Duration::from_millis(config.push_timeout_ms),
        config.push_attempts,
    )
    .map_err(|e| BusError::other(format!("the push webhook client: {e}")))?;
    let worker = worker::Worker {
        live_key: bus.subjects().redis_live_users(),
        bus,
        pool,
        redis,
        hook,
        concurrency: config.push_concurrency.max(1),
        dm_rooms: std::sync::Mutex::default(),
    };
    worker.run(shutdown, ready).await
}
