//! The web client: a page and its scripts and styles, embedded in the binary (`web/`), served
//! at `/` and `/web/...` when `NATTER_WEB_CLIENT` is on.
//!
//! The page renders HTML the server made (sanitised Markdown), so it is served with a strict
//! Content-Security-Policy: scripts and styles from this origin only (no inline script, no
//! `eval`), connections to this origin only, images also from `https:` (files in an object
//! store, GIF providers), and no framing.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;

/// What every page and asset is served with.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob: https:; media-src 'self' blob: https:; \
     connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("../web/", $name)),
        }
    };
}

/// Every file of the client. The page is `index.html`; the rest under `/web/`.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("natter.js", "text/javascript; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("view.js", "text/javascript; charset=utf-8"),
    asset!("rooms.js", "text/javascript; charset=utf-8"),
    asset!("messages.js", "text/javascript; charset=utf-8"),
    asset!("panel.js", "text/javascript; charset=utf-8"),
];

/// The page and its assets.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/web/{name}",
            get(|Path(name): Path<String>, headers: HeaderMap| async move {
                serve(&name, &headers)
            }),
        )
}

/// Bytes of every asset together (the page's size budget, stated in the README, is checked
/// against this).
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return ApiError::not_found("file").into_response();
    };
    // Revalidated each time (the files change with the binary), answered 304 when unchanged.
    let etag = format!("\"{:016x}\"", fnv1a(asset.body.as_bytes()));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    response
}

/// A stable 64-bit hash for ETags (FNV-1a).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    /// The page's size budget, stated in the README: every file of the client together.
    #[test]
    fn the_client_stays_within_its_size_budget() {
        let total = super::total_bytes();
        assert!(
            total <= 64 * 1024,
            "the web client is {total} bytes: over its 64 KiB budget"
        );
    }

    #[test]
    fn every_asset_is_served_with_its_type() {
        for asset in super::ASSETS {
            let response = super::serve(asset.name, &Default::default());
            assert_eq!(response.status(), 200, "{}", asset.name);
        }
    }
}
