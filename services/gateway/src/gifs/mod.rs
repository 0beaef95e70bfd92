//! GIF search: `GET /v1/gifs?q=&limit=`, answered by a provider behind [`GifProvider`] (one
//! adapter: [`giphy`]). Off unless configured with a key. natter passes the query on with its
//! key and hands back the provider's URLs: clients load the animations from the provider
//! (which then sees their addresses; the README says so).

pub mod giphy;

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use futures::future::BoxFuture;
use natter_common::config::Checks;
use natter_schemas::rest::{Gif, GifList};
use serde::Deserialize;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Api, Doc};
use crate::ratelimit::Action;
use crate::rest::extract::Query;
use crate::state::AppState;

/// Longest query passed on.
const MAX_QUERY_CHARS: usize = 100;

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

    /// The configured provider, if any.
    pub fn provider(&self) -> Option<Box<dyn GifProvider>> {
        match (self.gif_provider, &self.gif_api_key) {
            (ProviderKind::Giphy, Some(key)) => Some(Box::new(giphy::Giphy::new(
                key.clone(),
                self.gif_api_url.clone(),
                self.gif_rating.clone(),
            ))),
            _ => None,
        }
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

pub fn routes() -> Api {
    Api::default().route(
        "/v1/gifs",
        get(search),
        Doc::get("Search GIFs through the configured provider (404 when there is none)")
            .query(
                "q",
                "string",
                "what to look for, 1 to 100 characters; required",
            )
            .query("limit", "integer", "1 to 50, default 20")
            .ok::<GifList>(200, "the GIFs, with the provider's name for attribution"),
    )
}

#[derive(Deserialize)]
struct GifParams {
    q: Option<String>,
    limit: Option<u32>,
}

async fn search(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<GifParams>,
) -> ApiResult<axum::Json<GifList>> {
    let provider = state.gifs().ok_or_else(|| {
        ApiError(natter_schemas::ErrorDetail::new(
            natter_schemas::ErrorCode::NotFound,
            "GIF search is not configured on this server",
        ))
    })?;
    let query = params.q.as_deref().map(str::trim).unwrap_or_default();
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid(
            "q",
            "say what to look for, in 1 to 100 characters",
        ));
    }
    let limit = params.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid("limit", "use 1 to 50"));
    }
    state
        .limiter()
        .check(Action::Gif, &user.id.to_string())
        .await?;
    match provider.search(query, limit).await {
        Ok(gifs) => Ok(axum::Json(GifList {
            gifs,
            provider: provider.name().to_owned(),
        })),
        Err(e) => {
            tracing::warn!(provider = provider.name(), error = %e, "GIF search failed");
            Err(ApiError::unavailable(
                "the GIF provider did not answer; try again",
            ))
        }
    }
}
