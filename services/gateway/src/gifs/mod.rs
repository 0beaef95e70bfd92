//! GIF search: `GET /v1/gifs?q=&limit=`, answered by a provider behind [`GifProvider`] (one
//! adapter: [`giphy`]). Off unless configured with a key. natter passes the query on with its
//! key and hands back the provider's URLs: clients load the animations from the provider
//! (which then sees their addresses; the README says so).

pub mod giphy;
pub mod provider;

pub use provider::{GifConfig, GifError, GifProvider, PROVIDER_TIMEOUT, ProviderKind};

use axum::extract::State;
use axum::routing::get;
use natter_schemas::rest::GifList;
use serde::Deserialize;

use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::Query;
use natter_actions::Actions;
use natter_actions::ratelimit::Action;
use provider::Gifs;

/// Longest query passed on.
const MAX_QUERY_CHARS: usize = 100;

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
    State(state): State<Actions>,
    State(gifs): State<Gifs>,
    user: AuthUser,
    Query(params): Query<GifParams>,
) -> HttpResult<axum::Json<GifList>> {
    let provider = gifs.0.as_deref().ok_or_else(|| {
        ApiError(natter_schemas::ErrorDetail::new(
            natter_schemas::ErrorCode::NotFound,
            "GIF search is not configured on this server",
        ))
    })?;
    let query = params.q.as_deref().map(str::trim).unwrap_or_default();
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid("q", "say what to look for, in 1 to 100 characters").into());
    }
    let limit = params.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid("limit", "use 1 to 50").into());
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
            Err(ApiError::unavailable("the GIF provider did not answer; try again").into())
        }
    }
}
