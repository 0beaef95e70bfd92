//! The web client: a page and its scripts and styles, embedded in the binary (`web/`), served
//! at `/` and `/web/...` when `NATTER_WEB_CLIENT` is on.
//!
//! The page renders HTML the server made (sanitised Markdown), so it is served with a strict
//! Content-Security-Policy: scripts and styles from this origin only (no inline script, no
//! `eval`), connections to this origin only, images also from `https:` (files in an object
//! store, GIF providers), and no framing. Browsers that accept gzip get each file gzipped
//! (compressed once, at its first request).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::{ApiError, Refusal};

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
    asset!("message.js", "text/javascript; charset=utf-8"),
    asset!("header.js", "text/javascript; charset=utf-8"),
    asset!("receipts.js", "text/javascript; charset=utf-8"),
    asset!("profile.js", "text/javascript; charset=utf-8"),
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

/// Bytes of every asset together, as stored (the page's size budget, stated in the README,
/// is checked against this and the next).
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

/// Every file of the client together, as a browser that accepts gzip receives them.
pub fn total_gzipped_bytes() -> usize {
    (0..ASSETS.len()).map(|i| prepared(i).gzipped.len()).sum()
}

/// What is served of an asset, made once: its gzipped bytes and the tag of each encoding
/// (each encoding is its own representation, with its own tag).
struct Prepared {
    gzipped: Vec<u8>,
    etag: HeaderValue,
    etag_gzip: HeaderValue,
}

fn prepared(index: usize) -> &'static Prepared {
    use std::io::Write;
    use std::sync::OnceLock;
    static PREPARED: OnceLock<Vec<Prepared>> = OnceLock::new();
    let all = PREPARED.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let mut out =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                // Writing to a Vec cannot fail.
                let _ = out.write_all(a.body.as_bytes());
                let hash = fnv1a(a.body.as_bytes());
                let tag = |suffix: &str| {
                    HeaderValue::from_str(&format!("\"{hash:016x}{suffix}\""))
                        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
                };
                Prepared {
                    gzipped: out.finish().unwrap_or_default(),
                    etag: tag(""),
                    etag_gzip: tag("-gz"),
                }
            })
            .collect()
    });
    &all[index]
}

/// `If-None-Match` names `etag`: in a list, weakly (`W/`), or as `*`.
fn matches_tag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let wanted = etag.to_str().unwrap_or_default();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == wanted || tag == "*")
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return Refusal(ApiError::not_found("file")).into_response();
    };
    let asset = &ASSETS[index];
    let ready = prepared(index);
    let gzip = accepts_gzip(headers);
    // Revalidated each time (the files change with the binary), answered 304 when unchanged.
    let etag = if gzip { &ready.etag_gzip } else { &ready.etag };
    let mut response = if matches_tag(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if gzip {
        (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            ready.gzipped.as_slice(),
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert(header::ETAG, etag.clone());
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
    /// The page's size budget, stated in the README: every file of the client together, as
    /// stored and as sent to a browser (gzipped).
    #[test]
    fn the_client_stays_within_its_size_budget() {
        let total = super::total_bytes();
        assert!(
            total <= 96 * 1024,
            "the web client is {total} bytes: over its 96 KiB budget"
        );
        let sent = super::total_gzipped_bytes();
        assert!(
            sent <= 32 * 1024,
            "the web client is {sent} bytes gzipped: over its 32 KiB budget"
        );
    }

    #[test]
    fn gzip_is_sent_to_those_who_accept_it() {
        use axum::http::{HeaderMap, HeaderValue, header};
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            super::serve("natter.js", &headers)
        };
        for (accept, gzip) in [
            ("gzip, deflate, br", true),
            ("br;q=1.0, GZIP;q=0.5", true),
            ("gzip;q=0", false),
            ("identity", false),
        ] {
            let response = with(accept);
            assert_eq!(
                response.headers().get(header::CONTENT_ENCODING).is_some(),
                gzip,
                "{accept}"
            );
            assert_eq!(response.headers()[header::VARY], "accept-encoding");
        }
        // A 304 for the tag alone, in a list, weak, or `*`.
        let tag = with("gzip").headers()[header::ETAG]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        for if_none_match in [tag.clone(), format!("\"x\", W/{tag}"), "*".to_owned()] {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
            headers.insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(&if_none_match).unwrap_or(HeaderValue::from_static("-")),
            );
            assert_eq!(
                super::serve("natter.js", &headers).status(),
                304,
                "{if_none_match}"
            );
        }
        let plain = super::serve("natter.js", &HeaderMap::new());
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_ne!(
            plain.headers()[header::ETAG],
            with("gzip").headers()[header::ETAG]
        );
    }

    #[test]
    fn every_asset_is_served_with_its_type() {
        for asset in super::ASSETS {
            let response = super::serve(asset.name, &Default::default());
            assert_eq!(response.status(), 200, "{}", asset.name);
        }
    }

    /// A file added to `web/` and not to `ASSETS` would be a 404 in the browser.
    #[test]
    fn every_file_of_the_client_is_an_asset() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("web/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        let mut assets: Vec<String> = super::ASSETS.iter().map(|a| a.name.to_owned()).collect();
        files.sort();
        assets.sort();
        assert_eq!(files, assets);
    }
}
