//! `POST /v1/uploads`: one file in the multipart field `file`, its type detected from its
//! first bytes, its size held to the limit and the uploader's quota, stored, then recorded in
//! the log as `file.uploaded`. Every file streams to the store as it arrives (at most a few
//! parts of it in memory, however slowly it comes); an image is then read back, a few at a
//! time, to strip its metadata and make its thumbnail, and stored again in place.
//!
//! On failure nothing is recorded: bytes already written are dropped. A crash after the
//! bytes are stored and before the event is appended leaves bytes no event names, which the
//! sweeper removes. A retried upload is a new file.

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use futures::TryStreamExt;
use natter_files::{HEAD_BYTES, Upload, Variant, detect};
use natter_schemas::files::{Attachment, AttachmentRef, FileUploaded, ImageMeta, ThumbnailMeta};
use uuid::Uuid;

use super::download::store_unavailable;
use crate::auth::AuthUser;
use crate::error::{ApiError, HttpResult};
use crate::openapi::{Api, Doc};
use std::sync::Arc;

use super::Files;
use natter_actions::Actions;
use natter_actions::commands;

/// Room for the multipart framing around the file.
const FRAMING_BYTES: u64 = 64 * 1024;

pub fn upload_routes(max_upload_bytes: u64) -> Api {
    let limit =
        usize::try_from(max_upload_bytes.saturating_add(FRAMING_BYTES)).unwrap_or(usize::MAX);
    Api::default().route(
        "/v1/uploads",
        post(upload).layer(DefaultBodyLimit::max(limit)),
        Doc::post(
            "Upload a file (multipart field `file`); send its id in a message's `attachment_ids`",
        )
        .file_body()
        .ok::<Attachment>(201, "the file, with signed URLs")
        .empty(
            413,
            "larger than NATTER_MAX_UPLOAD_BYTES, or past the uploader's quota",
        ),
    )
}

async fn upload(
    State(state): State<Actions>,
    State(files): State<Arc<Files>>,
    user: AuthUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> HttpResult<(StatusCode, axum::Json<Attachment>)> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::invalid(
            "file",
            format!("send the file as multipart/form-data: {}", e.body_text()),
        )
    })?;
    let room = commands::files::allowance(&state, user.id, files.config.upload_quota_bytes).await?;
    let limit = files.config.max_upload_bytes.min(room);
    let mut field = loop {
        match multipart.next_field().await.map_err(multipart_error)? {
            Some(field) if field.name() == Some("file") => break field,
            Some(_) => continue,
            None => {
                return Err(ApiError::invalid(
                    "file",
                    "send the file as the multipart/form-data field `file`",
                )
                .into());
            }
        }
    };
    let name = clean_name(field.file_name());
    let id = Uuid::now_v7();
    let received = receive(&files, &mut field, id, limit).await?;
    let uploaded = FileUploaded {
        file_id: id,
        name,
        size: received.size,
        content_type: received.content_type.to_owned(),
        image: received.image,
        hash: received.hash,
    };
    commands::files::uploaded(&state, user.id, uploaded.clone()).await?;
    metrics::counter!("natter_uploads_total").increment(1);
    metrics::counter!("natter_upload_bytes_total").increment(uploaded.size);
    let attachment = AttachmentRef::of(&uploaded).to_attachment(state.file_urls());
    Ok((StatusCode::CREATED, axum::Json(attachment)))
}

/// A file received and stored.
struct Received {
    size: u64,
    content_type: &'static str,
    image: Option<ImageMeta>,
    hash: String,
}

/// Receives the field and stores it: its first bytes say what it is; an image is held whole
/// (its metadata stripped, its thumbnail made), anything else streams to the store as it
/// arrives. On failure nothing is left in the store.
async fn receive(
    files: &Files,
    field: &mut Field<'_>,
    id: Uuid,
    limit: u64,
) -> HttpResult<Received> {
    let mut size = 0u64;
    let (mut first, mut head) = (Vec::new(), Vec::with_capacity(HEAD_BYTES));
    while head.len() < HEAD_BYTES {
        let Some(chunk) = next_chunk(field, &mut size, limit).await? else {
            break;
        };
        let take = (HEAD_BYTES - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..take]);
        first.push(chunk);
    }
    if size == 0 {
        return Err(ApiError::invalid("file", "the file is empty").into());
    }
    let detected = detect(&head);
    // Everything streams to the store first: nothing is held in memory while the client
    // sends, however slowly.
    let mut upload = files.store.upload(id, Variant::Original);
    let (size, hash) = match stream(files, field, &mut upload, first, size, limit).await {
        Ok(done) => done,
        Err(e) => {
            upload.abort().await;
            return Err(e);
        }
    };
    upload.finish().await.map_err(|e| store_unavailable(&e))?;
    let received = match detected.image {
        None => Ok(Received {
            size,
            content_type: detected.content_type,
            image: None,
            hash,
        }),
        Some(kind) => process_image(files, id, kind, detected.content_type).await,
    };
    if received.is_err() {
        // Nothing is recorded: the bytes go too.
        let _ = files.store.delete(id).await;
    }
    received
}

/// The next chunk of the field, counted against `limit`.
async fn next_chunk(
    field: &mut Field<'_>,
    size: &mut u64,
    limit: u64,
) -> HttpResult<Option<Bytes>> {
    let Some(chunk) = field.chunk().await.map_err(multipart_error)? else {
        return Ok(None);
    };
    *size += chunk.len() as u64;
    if *size > limit {
        return Err(ApiError::too_large(format!(
            "the file is larger than {limit} bytes (the upload limit, or what is left of your quota)"
        )).into());
    }
    Ok(Some(chunk))
}

/// Streams `first` and the rest of the field into `upload`: (size, keyed hash).
async fn stream(
    files: &Files,
    field: &mut Field<'_>,
    upload: &mut Upload,
    first: Vec<Bytes>,
    mut size: u64,
    limit: u64,
) -> HttpResult<(u64, String)> {
    let mut hasher = files.signer.content_hasher();
    for chunk in first {
        hasher.update(&chunk);
        upload
            .write(chunk)
            .await
            .map_err(|e| store_unavailable(&e))?;
    }
    while let Some(chunk) = next_chunk(field, &mut size, limit).await? {
        hasher.update(&chunk);
        upload
            .write(chunk)
            .await
            .map_err(|e| store_unavailable(&e))?;
    }
    Ok((size, hasher.finish()))
}

/// Reads an image back from the store, strips its metadata, makes its thumbnail, and stores
/// both in place of what came, all in one of the `NATTER_IMAGE_WORKERS` turns (waited for
/// before anything is read: an upload waiting for its turn holds none of its bytes, so images
/// in memory take at most about workers x 2 x the upload limit). An image whose metadata
/// cannot be taken out is kept as bytes to download, never as an image to show.
async fn process_image(
    files: &Files,
    id: Uuid,
    kind: natter_files::ImageKind,
    content_type: &'static str,
) -> HttpResult<Received> {
    let turn = files.image_turn().await;
    let unavailable = |e: natter_files::StoreError| store_unavailable(&e);
    let (_, stream) = files
        .store
        .get(id, Variant::Original, None)
        .await
        .map_err(unavailable)?;
    let chunks: Vec<Bytes> = stream.try_collect().await.map_err(unavailable)?;
    let original = Bytes::from(chunks.concat());
    drop(chunks);
    let _in_flight = super::InFlight::new(original.len());
    let done = files.process_image(&turn, kind, original.clone()).await;
    let keyed = |bytes: &[u8]| {
        let mut hasher = files.signer.content_hasher();
        hasher.update(bytes);
        hasher.finish()
    };
    let Some(bytes) = done.bytes else {
        return Ok(Received {
            size: original.len() as u64,
            content_type: "application/octet-stream",
            image: None,
            hash: keyed(&original),
        });
    };
    let (stored, hash) = (bytes.len() as u64, keyed(&bytes));
    files
        .store
        .put(id, Variant::Original, bytes)
        .await
        .map_err(unavailable)?;
    let thumbnail = match done.thumbnail {
        Some(t) => {
            let meta = ThumbnailMeta {
                width: t.width,
                height: t.height,
                content_type: t.content_type.to_owned(),
                size: t.bytes.len() as u64,
            };
            files
                .store
                .put(id, Variant::Thumbnail, t.bytes)
                .await
                .map_err(unavailable)?;
            Some(meta)
        }
        None => None,
    };
    Ok(Received {
        size: stored,
        content_type,
        image: done.size.map(|(width, height)| ImageMeta {
            width,
            height,
            thumbnail,
        }),
        hash,
    })
}

/// A malformed or oversized multipart body.
fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large("the upload is larger than NATTER_MAX_UPLOAD_BYTES")
    } else {
        ApiError::invalid(
            "file",
            format!("the multipart body cannot be read: {}", e.body_text()),
        )
    }
}

/// The name to keep: its last path component, without control characters, at most 255
/// characters; `file` when nothing is left.
fn clean_name(name: Option<&str>) -> String {
    let name = name.unwrap_or_default();
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control() && !natter_schemas::text::is_format_control(*c))
        .take(255)
        .collect::<String>()
        .trim()
        .to_owned();
    if clean.is_empty() || clean == "." || clean == ".." {
        "file".to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(clean_name(Some("C:\\Users\\me\\cat.png")), "cat.png");
        assert_eq!(clean_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_name(Some("a\u{0}b\nc.txt")), "abc.txt");
        assert_eq!(clean_name(Some("..")), "file");
        assert_eq!(clean_name(Some("invoice\u{202E}fdp.exe")), "invoicefdp.exe");
        assert_eq!(clean_name(None), "file");
        assert_eq!(clean_name(Some(&"x".repeat(300))).len(), 255);
    }
}
