//! REST: one module per resource, each adding its routes (with their docs) to the [`Api`].

pub mod auth;
pub mod blocks;
pub mod calls;
pub mod extract;
pub mod keys;
pub mod me;
pub mod members;
pub mod messages;
pub mod ops;
pub mod pins;
pub mod presence;
pub mod reading;
pub mod rooms;
pub mod search;
pub mod sessions;
mod shape;
pub mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::{ApiError, Refusal};
use crate::openapi::Api;
use crate::state::AppState;

/// Every documented route, without state (also what the OpenAPI document is made of).
pub fn api() -> Api {
    api_with(crate::files::FilesConfig::default().max_upload_bytes)
}

/// The routes, with the upload route's body limit.
fn api_with(max_upload_bytes: u64) -> Api {
    Api::default()
        .merge(auth::routes())
        .merge(me::routes())
        .merge(sessions::routes())
        .merge(blocks::routes())
        .merge(rooms::routes())
        .merge(members::routes())
        .merge(messages::routes())
        .merge(pins::routes())
        .merge(calls::routes())
        .merge(users::routes())
        .merge(keys::routes())
        .merge(presence::routes())
        .merge(reading::routes())
        .merge(search::routes())
        .merge(crate::files::upload_routes(max_upload_bytes))
        .merge(crate::files::download_routes())
        .merge(crate::gifs::routes())
        .merge(crate::admin::routes())
        .merge(ops::routes())
}

/// The whole HTTP surface: REST, `/v1/ws`, operations, `/openapi.json`, the web client.
pub fn router(state: AppState) -> Router {
    let api = api_with(state.config().files.max_upload_bytes);
    let document = std::sync::Arc::new(api.document());
    let limit = state.config().max_json_bytes;
    let mut router = api
        .undocumented("/v1/ws", get(crate::ws::upgrade))
        .undocumented(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { axum::Json((*document).clone()) }
            }),
        )
        .router();
    if state.config().web_client {
        router = router.merge(crate::web::routes());
    }
    router
        .fallback(|| async { Refusal(ApiError::not_found("route")) })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            Refusal(ApiError::new(
                natter_schemas::ErrorCode::MethodNotAllowed,
                format!("{method} is not allowed on this path"),
            ))
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(shape::error_shape))
        .layer(cors(&state.config().allowed_origins))
        // Spans carry the path only: a WebSocket upgrade's query holds its token.
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                tracing::debug_span!("http", method = %req.method(), path = %req.uri().path())
            },
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.config().net.max_header_bytes,
            crate::net::head_limits,
        ))
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

/// CORS for browsers on other origins: the origins in `NATTER_ALLOWED_ORIGINS` may call the
/// REST API (preflights answered, their 10 minutes cached) with a Bearer token, never with
/// cookies (natter sets none); with none configured, no other origin may.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::list(allowed))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::RANGE])
        .expose_headers([
            header::CONTENT_RANGE,
            header::CONTENT_DISPOSITION,
            header::RETRY_AFTER,
        ])
        .max_age(std::time::Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    /// `docs/openapi.json` is generated from the route table; rewrite it with
    /// `NATTER_BLESS=1 cargo test -p natter-gateway`.
    #[test]
    fn committed_openapi_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let mut want = serde_json::to_string_pretty(&super::api().document()).unwrap_or_default();
        want.push('\n');
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            if std::env::var_os("NATTER_BLESS").is_some() {
                std::fs::create_dir_all(path.parent().unwrap_or(&path)).ok();
                std::fs::write(&path, want).ok();
            } else {
                panic!(
                    "docs/openapi.json is stale: run `NATTER_BLESS=1 cargo test -p natter-gateway`"
                );
            }
        }
    }
}
