//! `POST /v1/uploads`: one file in the multipart field `file`, its type detected from its
//! first bytes, its size held to the limit and the uploader's quota, stored, then recorded in
//! the log as `file.uploaded`. Anything but an image streams to the store as it arrives (at
//! most a part of it in memory); an image is held whole, a few at a time, to strip its
//! metadata and make its thumbnail.
//!
//! On failure nothing is recorded: bytes already written are dropped. A crash after the
//! bytes are stored and before the event is appended leaves bytes no event names, which the
//! sweeper removes. A retried upload is a new file.

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::{Bytes, BytesMut};
use natter_files::{HEAD_BYTES, Upload, Variant, detect};
use natter_projections::history::queries;
use natter_schemas::event::{Event, EventBody};
use natter_schemas::files::{Attachment, AttachmentRef, FileUploaded, ImageMeta, ThumbnailMeta};
use uuid::Uuid;

use super::download::store_unavailable;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Api, Doc};
use crate::ratelimit::Action;
use crate::state::AppState;

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
    State(state): State<AppState>,
    user: AuthUser,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, axum::Json<Attachment>)> {
    state
        .limiter()
        .check(Action::Upload, &user.id.to_string())
        .await?;
    let config = &state.files().config;
    let used = queries::stored_bytes(state.pool(), user.id).await?;
    let room = config.upload_quota_bytes.saturating_sub(used);
    if room == 0 {
        return Err(ApiError::too_large(format!(
            "your files take up your quota of {} bytes: delete messages with files you no longer need",
            config.upload_quota_bytes
        )));
    }
    let limit = config.max_upload_bytes.min(room);
    let mut field = loop {
        match multipart.next_field().await.map_err(multipart_error)? {
            Some(field) if field.name() == Some("file") => break field,
            Some(_) => continue,
            None => {
                return Err(ApiError::invalid(
                    "file",
                    "send the file as the multipart/form-data field `file`",
                ));
            }
        }
    };
    let name = clean_name(field.file_name());
    let id = Uuid::now_v7();
    let received = receive(&state, &mut field, id, limit).await?;
    let uploaded = FileUploaded {
        file_id: id,
        name,
        size: received.size,
        content_type: received.content_type.to_owned(),
        image: received.image,
        hash: received.hash,
    };
    let event = Event::new(user.id, None, EventBody::FileUploaded(uploaded.clone()));
    let subject = state
        .bus()
        .subjects()
        .user_event(user.id, event.type_name());
    let appended = match state
        .bus()
        .append(subject, &event, Some(&id.to_string()), false)
        .await
    {
        Ok(appended) => appended,
        Err(e) => {
            // Not recorded: the bytes go too (the sweeper would find them otherwise).
            if let Err(e) = state.files().store.delete(id).await {
                tracing::warn!(file = %id, error = %e, "unrecorded upload left in the store");
            }
            return Err(e.into());
        }
    };
    // A message sent right after this reply finds the file.
    state.projected(appended.seq).await?;
    metrics::counter!("natter_uploads_total").increment(1);
    metrics::counter!("natter_upload_bytes_total").increment(uploaded.size);
    let attachment = AttachmentRef::of(&uploaded).to_attachment(&*state.files().urls);
    Ok((StatusCode::CREATED, axum::Json(attachment)))
}

/// The chunks read so far, and how many bytes they hold.
struct Held {
    first: Vec<Bytes>,
    size: u64,
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
    state: &AppState,
    field: &mut Field<'_>,
    id: Uuid,
    limit: u64,
) -> ApiResult<Received> {
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
        return Err(ApiError::invalid("file", "the file is empty"));
    }
    let detected = detect(&head);
    match detected.image {
        Some(kind) => {
            let held = Held { first, size };
            receive_image(state, field, id, (kind, detected.content_type), held, limit).await
        }
        None => {
            let mut upload = state.files().store.upload(id, Variant::Original);
            match stream(state, field, &mut upload, first, size, limit).await {
                Ok((size, hash)) => {
                    upload.finish().await.map_err(|e| store_unavailable(&e))?;
                    Ok(Received {
                        size,
                        content_type: detected.content_type,
                        image: None,
                        hash,
                    })
                }
                Err(e) => {
                    upload.abort().await;
                    Err(e)
                }
            }
        }
    }
}

/// The next chunk of the field, counted against `limit`.
async fn next_chunk(field: &mut Field<'_>, size: &mut u64, limit: u64) -> ApiResult<Option<Bytes>> {
    let Some(chunk) = field.chunk().await.map_err(multipart_error)? else {
        return Ok(None);
    };
    *size += chunk.len() as u64;
    if *size > limit {
        return Err(ApiError::too_large(format!(
            "the file is larger than {limit} bytes (the upload limit, or what is left of your quota)"
        )));
    }
    Ok(Some(chunk))
}

/// Streams `first` and the rest of the field into `upload`: (size, keyed hash).
async fn stream(
    state: &AppState,
    field: &mut Field<'_>,
    upload: &mut Upload,
    first: Vec<Bytes>,
    mut size: u64,
    limit: u64,
) -> ApiResult<(u64, String)> {
    let mut hasher = state.files().signer.content_hasher();
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

/// Holds an image whole (one of a few at a time), strips its metadata, makes its thumbnail
/// and stores both.
async fn receive_image(
    state: &AppState,
    field: &mut Field<'_>,
    id: Uuid,
    (kind, content_type): (natter_files::ImageKind, &'static str),
    held: Held,
    limit: u64,
) -> ApiResult<Received> {
    let Held { first, mut size } = held;
    let files = state.files();
    let _turn = files.image_turn().await;
    let mut whole = BytesMut::with_capacity(usize::try_from(size).unwrap_or(0));
    for chunk in first {
        whole.extend_from_slice(&chunk);
    }
    while let Some(chunk) = next_chunk(field, &mut size, limit).await? {
        whole.extend_from_slice(&chunk);
    }
    let done = files.process_image(kind, whole.freeze()).await;
    let mut hasher = files.signer.content_hasher();
    hasher.update(&done.bytes);
    let stored = done.bytes.len() as u64;
    let thumbnail = done.thumbnail.map(|t| {
        let meta = ThumbnailMeta {
            width: t.width,
            height: t.height,
            content_type: t.content_type.to_owned(),
            size: t.bytes.len() as u64,
        };
        (meta, t.bytes)
    });
    let put = async {
        files.store.put(id, Variant::Original, done.bytes).await?;
        if let Some((_, bytes)) = &thumbnail {
            files
                .store
                .put(id, Variant::Thumbnail, bytes.clone())
                .await?;
        }
        Ok::<(), natter_files::StoreError>(())
    };
    if let Err(e) = put.await {
        let _ = files.store.delete(id).await;
        return Err(store_unavailable(&e));
    }
    Ok(Received {
        size: stored,
        content_type,
        image: done.size.map(|(width, height)| ImageMeta {
            width,
            height,
            thumbnail: thumbnail.map(|(meta, _)| meta),
        }),
        hash: hasher.finish(),
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
        .filter(|c| !c.is_control())
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
        assert_eq!(clean_name(None), "file");
        assert_eq!(clean_name(Some(&"x".repeat(300))).len(), 255);
    }
}
