//! natter-previews: link previews. A worker (`natter up` runs it; `natter previews` alone)
//! reads posted and edited messages from the log, fetches their first web links with a
//! client that cannot be pointed at natter's own network ([`policy`], [`fetch`]), reads what
//! each page says about itself ([`page`]), and appends `message.preview_added`, which clients
//! receive live and history keeps. A page's image is fetched too, re-encoded small and stored
//! as a file, so that clients load it from natter and never reveal themselves to the site.

pub mod fetch;
pub mod page;
pub mod policy;
mod worker;

use std::time::Duration;

use natter_bus::{Bus, BusError};
use natter_common::config::Checks;
use natter_common::{Ready, Shutdown};
use sqlx::PgPool;

pub use worker::{PreviewFiles, ROLE};

/// Link previews' settings.
#[derive(Debug, Clone, clap::Args)]
pub struct PreviewsConfig {
    /// Make link previews (`false`: the worker runs and does nothing).
    #[arg(long, env = "NATTER_LINK_PREVIEWS", default_value_t = true, action = clap::ArgAction::Set)]
    pub link_previews: bool,
    /// Only preview links to these hosts (and their subdomains), comma-separated; empty: any.
    #[arg(long, env = "NATTER_PREVIEW_ALLOW_HOSTS", value_delimiter = ',')]
    pub preview_allow_hosts: Vec<String>,
    /// Never preview links to these hosts (and their subdomains), comma-separated.
    #[arg(long, env = "NATTER_PREVIEW_DENY_HOSTS", value_delimiter = ',')]
    pub preview_deny_hosts: Vec<String>,
    /// Also fetch from loopback, private and link-local addresses. For tests only: with it, a
    /// message can make natter fetch from its own network.
    #[arg(long, env = "NATTER_PREVIEW_PRIVATE_ADDRESSES", default_value_t = false, action = clap::ArgAction::Set)]
    pub preview_private_addresses: bool,
    /// The only ports previews are fetched from, comma-separated (links to other ports get no
    /// preview: they may be services never meant to be reached from a message).
    #[arg(
        long,
        env = "NATTER_PREVIEW_PORTS",
        value_delimiter = ',',
        default_value = "80,443"
    )]
    pub preview_ports: Vec<u16>,
    /// Longest a page (or its image) may take, redirects included, in milliseconds.
    #[arg(long, env = "NATTER_PREVIEW_TIMEOUT_MS", default_value_t = 5000)]
    pub preview_timeout_ms: u64,
    /// Most bytes of a page read (its head is what matters: the rest is cut).
    #[arg(long, env = "NATTER_PREVIEW_MAX_PAGE_BYTES", default_value_t = 1024 * 1024)]
    pub preview_max_page_bytes: usize,
    /// Largest preview image fetched, in bytes.
    #[arg(long, env = "NATTER_PREVIEW_MAX_IMAGE_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub preview_max_image_bytes: usize,
    /// Links previewed per message (its first ones).
    #[arg(long, env = "NATTER_PREVIEW_LINKS", default_value_t = 3)]
    pub preview_links: usize,
    /// Messages previewed at once.
    #[arg(long, env = "NATTER_PREVIEW_CONCURRENCY", default_value_t = 4)]
    pub preview_concurrency: usize,
}

impl Default for PreviewsConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

impl PreviewsConfig {
    /// Adds the settings that cannot work to `checks`.
    pub fn check(&self, checks: &mut Checks) {
        checks.require(
            (100..=60_000).contains(&self.preview_timeout_ms),
            "NATTER_PREVIEW_TIMEOUT_MS",
            || format!("{} ms: use 100 to 60000", self.preview_timeout_ms),
        );
        checks.require(
            (1024..=16 << 20).contains(&self.preview_max_page_bytes),
            "NATTER_PREVIEW_MAX_PAGE_BYTES",
            || {
                format!(
                    "{} bytes: use 1024 to 16777216",
                    self.preview_max_page_bytes
                )
            },
        );
        checks.require(
            (1024..=64 << 20).contains(&self.preview_max_image_bytes),
            "NATTER_PREVIEW_MAX_IMAGE_BYTES",
            || {
                format!(
                    "{} bytes: use 1024 to 67108864",
                    self.preview_max_image_bytes
                )
            },
        );
        checks.require(
            (1..=10).contains(&self.preview_links),
            "NATTER_PREVIEW_LINKS",
            || format!("{}: use 1 to 10", self.preview_links),
        );
        checks.require(
            (1..=64).contains(&self.preview_concurrency),
            "NATTER_PREVIEW_CONCURRENCY",
            || format!("{}: use 1 to 64", self.preview_concurrency),
        );
        for (env, hosts) in [
            ("NATTER_PREVIEW_ALLOW_HOSTS", &self.preview_allow_hosts),
            ("NATTER_PREVIEW_DENY_HOSTS", &self.preview_deny_hosts),
        ] {
            for host in hosts {
                checks.require(!host.is_empty() && !host.contains(['/', ':', ' ']), env, || {
                    format!("`{host}` is not a host name: write example.com (no scheme, port or path)")
                });
            }
        }
    }

    fn policy(&self) -> policy::Policy {
        let hosts = |list: &[String]| list.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
        policy::Policy {
            allow_hosts: hosts(&self.preview_allow_hosts),
            deny_hosts: hosts(&self.preview_deny_hosts),
            allow_private: self.preview_private_addresses,
            ports: self.preview_ports.clone(),
        }
    }

    fn limits(&self) -> fetch::Limits {
        fetch::Limits {
            timeout: Duration::from_millis(self.preview_timeout_ms),
            max_page_bytes: self.preview_max_page_bytes,
            max_image_bytes: self.preview_max_image_bytes,
            max_redirects: 5,
        }
    }
}

/// Makes previews until `shutdown`; `ready` is told once the consumer is open. With previews
/// off, it only waits.
pub async fn run(
    bus: Bus,
    pool: PgPool,
    files: PreviewFiles,
    config: PreviewsConfig,
    shutdown: Shutdown,
    ready: Ready,
) -> Result<(), BusError> {
    if !config.link_previews {
        tracing::info!("link previews are off (NATTER_LINK_PREVIEWS=false)");
        ready.started();
        shutdown.wait().await;
        return Ok(());
    }
    if config.preview_private_addresses {
        tracing::warn!(
            "link previews may fetch from private addresses (NATTER_PREVIEW_PRIVATE_ADDRESSES): for tests only"
        );
    }
    let fetcher = fetch::Fetcher::new(config.policy(), config.limits())
        .map_err(|e| BusError::other(format!("link previews' HTTP client: {e}")))?;
    worker::Worker {
        bus,
        pool,
        files,
        fetcher,
        links: config.preview_links,
        concurrency: config.preview_concurrency,
        decoding: tokio::sync::Semaphore::new(1),
    }
    .run(shutdown, ready)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_on_and_safe_and_bad_settings_are_named() {
        let config = PreviewsConfig::default();
        assert!(config.link_previews && !config.preview_private_addresses);
        let mut checks = Checks::default();
        config.check(&mut checks);
        assert!(checks.finish().is_ok());
        let bad = PreviewsConfig {
            preview_timeout_ms: 0,
            preview_links: 0,
            preview_deny_hosts: vec!["https://example.com/".into()],
            ..PreviewsConfig::default()
        };
        let mut checks = Checks::default();
        bad.check(&mut checks);
        let named = checks.finish().expect_err("invalid").to_string();
        for env in [
            "NATTER_PREVIEW_TIMEOUT_MS",
            "NATTER_PREVIEW_LINKS",
            "NATTER_PREVIEW_DENY_HOSTS",
        ] {
            assert!(named.contains(env), "{named}");
        }
    }
}
