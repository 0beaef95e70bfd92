//! GIF search's settings and what a provider answers to: the parts the gateway's state holds,
//! apart from the route that uses them.

use std::time::Duration;

use futures::future::BoxFuture;
use natter_common::config::Checks;
use natter_schemas::rest::Gif;

/// GIF search's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct GifConfig {
    /// The GIF search provider: `off` or `giphy` (which needs NATTER_GIF_API_KEY).
    #[arg(long, env = "NATTER_GIF_PROVIDER", value_enum, default_value_t = ProviderKind::Off)]
    pub gif_provider: ProviderKind,
    /// The provider's API key.
    #[arg(long, env = "NATTER_GIF_API_KEY", hide_env_values = true)]
    pub gif_api_key: Option<String>,
    /// The provider's API address (default: the provider's own; set it for a proxy).
    #[arg(long, env = "NATTER_GIF_API_URL")]
    pub gif_api_url: Option<String>,
    /// The content rating asked for (`g`, `pg`, `pg-13`, `r`).
    #[arg(long, env = "NATTER_GIF_RATING", default_value = "g")]
    pub gif_rating: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderKind {
    Off,
    Giphy,
}

impl Default for GifConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

impl GifConfig {
    /// Adds the settings that cannot work to `checks`.
    pub fn check(&self, checks: &mut Checks) {
        checks.require(
            self.gif_provider == ProviderKind::Off || self.gif_api_key.is_some(),
            "NATTER_GIF_API_KEY",
            || "unset: the GIF provider needs its API key".into(),
        );
        if let Some(url) = &self.gif_api_url {
            checks.require(
                url.starts_with("https://") || url.starts_with("http://"),
                "NATTER_GIF_API_URL",
                || format!("`{url}` is not an http(s) URL"),
            );
        }
        checks.require(
            ["g", "pg", "pg-13", "r"].contains(&self.gif_rating.as_str()),
            "NATTER_GIF_RATING",
            || format!("`{}`: use g, pg, pg-13 or r", self.gif_rating),
        );
    }
}

/// Why a provider gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum GifError {
    #[error("the provider did not answer: {0}")]
    Unreachable(String),
    #[error("the provider answered {0}")]
    Status(u16),
    #[error("the provider's answer is not what was expected: {0}")]
    Shape(String),
}

/// The GIF search provider, when one is configured: what the search handler takes.
#[derive(Clone)]
pub struct Gifs(pub Option<std::sync::Arc<dyn GifProvider>>);

/// A GIF search provider.
pub trait GifProvider: Send + Sync {
    /// Its name, for attribution.
    fn name(&self) -> &'static str;
    /// Up to `limit` GIFs for `query`.
    fn search<'a>(
        &'a self,
        query: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Gif>, GifError>>;
}

/// How long a provider may take.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
