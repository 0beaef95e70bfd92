//! `GET /v1/files/{id}` and `/v1/files/{id}/thumbnail`: the bytes, with a Bearer token or a
//! signed URL, whole or a `Range` of them.
//!
//! Served so that a file can never act as a page of natter's origin: images, audio and video
//! natter recognised are `inline`, everything else an `attachment`; always `nosniff`, and a
//! sandboxing Content-Security-Policy besides.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use natter_files::{StoreError, Variant};
use natter_projections::history::queries::FileRow;
use serde::Deserialize;
use uuid::Uuid;

use super::access::{Reader, readable};
use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult, Refusal};
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Path, Query};
use std::sync::Arc;

use super::Files;
use crate::state::AppState;
use natter_actions::Actions;

pub fn download_routes() -> Api {
    let doc = |summary| {
        Doc::get(summary)
            .public()
            .query(
                "exp",
                "integer",
                "a signed URL's expiry (as the URL has it)",
            )
            .query(
                "sig",
                "string",
                "a signed URL's signature (as the URL has it)",
            )
            .empty(200, "the bytes")
            .empty(206, "the requested range")
            .empty(416, "a range outside the file")
    };
    Api::default()
        .route(
            "/v1/files/{id}",
            handler(Variant::Original),
            doc("A file's bytes, with a Bearer token or as a signed URL; 404 for anyone who may not read it"),
        )
        .route(
            "/v1/files/{id}/thumbnail",
            handler(Variant::Thumbnail),
            doc("An image's thumbnail (at most 320 px), like the file itself"),
        )
}

#[derive(Deserialize)]
struct Signed {
    exp: Option<u64>,
    sig: Option<String>,
}

/// The handler of one variant's route.
fn handler(variant: Variant) -> axum::routing::MethodRouter<AppState> {
    get(
        move |State(state): State<Actions>,
              State(files): State<Arc<Files>>,
              user: Result<AuthUser, Refusal>,
              Path(id): Path<Uuid>,
              Query(signed): Query<Signed>,
              headers: HeaderMap| async move {
            serve(&state, &files, user, id, variant, signed, &headers).await
        },
    )
}

async fn serve(
    state: &Actions,
    files: &Files,
    user: Result<AuthUser, Refusal>,
    id: Uuid,
    variant: Variant,
    signed: Signed,
    headers: &HeaderMap,
) -> HttpResult<Response> {
    let reader = match (signed.exp, signed.sig, user) {
        (Some(exp), Some(sig), _) => {
            let now = natter_actions::auth::now_secs();
            if !files.signer.verify(id, variant, exp, &sig, now) {
                // Expired or forged: the same answer as for no file.
                return Err(ApiError::not_found("file").into());
            }
            Reader::SignedUrl
        }
        // Without a signature, the token decides (a stale token does not spoil a signed URL).
        (_, _, user) => Reader::User(user?.id),
    };
    let file = readable(state, id, reader).await?;
    let content_type = match variant {
        Variant::Original => file.content_type.clone(),
        Variant::Thumbnail => match &file.thumbnail {
            Some(thumb) => thumb.0.content_type.clone(),
            None => return Err(ApiError::not_found("thumbnail").into()),
        },
    };
    let size = match variant {
        Variant::Original => u64::try_from(file.size).unwrap_or(0),
        Variant::Thumbnail => file.thumbnail.as_ref().map_or(0, |t| t.0.size),
    };
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(value) => match parse_range(value, size) {
            Ok(range) => range,
            Err(()) => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                )
                    .into_response());
            }
        },
    };
    let (_, stream) = files
        .store
        .get(id, variant, range.clone().map(|r| r.start..r.end))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                tracing::error!(file = %id, "a file's bytes are missing from the store");
                ApiError::not_found("file")
            }
            other => store_unavailable(&other),
        })?;
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    set_headers(headers, &file, &content_type, variant);
    match range {
        Some(r) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let headers = response.headers_mut();
            insert(
                headers,
                header::CONTENT_LENGTH,
                (r.end - r.start).to_string(),
            );
            insert(
                headers,
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.end - 1),
            );
        }
        None => insert(
            response.headers_mut(),
            header::CONTENT_LENGTH,
            size.to_string(),
        ),
    }
    Ok(response)
}

/// A store that failed: logged here, answered `unavailable`.
pub(super) fn store_unavailable(e: &StoreError) -> ApiError {
    tracing::warn!(error = %e, "file store unavailable");
    ApiError::unavailable("the file store is unavailable; retry shortly")
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(name, value);
    }
}

fn set_headers(headers: &mut HeaderMap, file: &FileRow, content_type: &str, variant: Variant) {
    insert(
        headers,
        header::CONTENT_TYPE,
        natter_files::sniff::served_type(content_type).to_owned(),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    insert(
        headers,
        header::ETAG,
        format!("\"{}\"", &file.hash[..file.hash.len().min(32)]),
    );
    // Inline only for what natter recognised itself as an image, audio or video (the stored
    // type is the detected one; a thumbnail is always an image natter made).
    let inline = variant == Variant::Thumbnail || natter_files::sniff::inline(content_type);
    let disposition = if inline { "inline" } else { "attachment" };
    insert(
        headers,
        header::CONTENT_DISPOSITION,
        format!(
            "{disposition}; filename*=UTF-8''{}",
            encode_filename(&file.name)
        ),
    );
}

/// RFC 5987 percent-encoding of a file name.
fn encode_filename(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The one range `value` asks for within `size` bytes (end exclusive); `Ok(None)` to serve
/// the whole file (several ranges, or a header natter does not read); `Err` when the range
/// is outside the file (416).
fn parse_range(value: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => start..end.saturating_add(1).min(size),
        (Ok(_), Ok(_)) => return Ok(None),
        (Ok(start), Err(_)) if end.is_empty() => start..size,
        (Err(_), Ok(suffix)) if start.is_empty() => size.saturating_sub(suffix)..size,
        _ => return Ok(None),
    };
    if range.start >= size || range.is_empty() {
        return Err(());
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), Ok(Some(0..5)));
        assert_eq!(parse_range("bytes=5-", 10), Ok(Some(5..10)));
        assert_eq!(parse_range("bytes=-3", 10), Ok(Some(7..10)));
        assert_eq!(parse_range("bytes=8-100", 10), Ok(Some(8..10)));
        assert_eq!(parse_range("bytes=10-", 10), Err(()));
        assert_eq!(parse_range("bytes=0-1,4-5", 10), Ok(None));
        assert_eq!(parse_range("items=0-1", 10), Ok(None));
        assert_eq!(parse_range("bytes=5-2", 10), Ok(None));
        assert_eq!(
            parse_range("bytes=0-18446744073709551615", 10),
            Ok(Some(0..10))
        );
    }

    #[test]
    fn file_names_are_encoded() {
        assert_eq!(encode_filename("a b\".png"), "a%20b%22.png");
        assert_eq!(encode_filename("é"), "%C3%A9");
    }
}
