//! `POST /v1/uploads`: one file in the multipart field `file`, streamed to the store as it
//! arrives (at most a part of it in memory), its type detected from its bytes, its size held
//! to the limit and the uploader's quota, then recorded in the log as `file.uploaded`.
//!
//! On failure nothing is recorded: bytes already written are dropped. A crash after the
//! bytes are stored and before the event is appended leaves bytes no event names, which the
//! sweeper removes. A retried upload is a new file.

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use natter_files::{HEAD_BYTES, Upload, Variant, detect};
use natter_projections::history::queries;
use natter_schemas::event::{Event, EventBody};
use natter_schemas::files::{Attachment, AttachmentRef, FileUploaded};
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
    let mut upload = state.files().store.upload(id, Variant::Original);
    let streamed = stream(&state, &mut field, &mut upload, limit).await;
    let (size, head, hash) = match streamed {
        Ok(done) if done.0 > 0 => done,
        Ok(_) => {
            upload.abort().await;
            return Err(ApiError::invalid("file", "the file is empty"));
        }
        Err(e) => {
            upload.abort().await;
            return Err(e);
        }
    };
    upload.finish().await.map_err(|e| store_unavailable(&e))?;
    let detected = detect(&head);
    let uploaded = FileUploaded {
        file_id: id,
        name,
        size,
        content_type: detected.content_type.to_owned(),
        image: None,
        hash,
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
    metrics::counter!("natter_upload_bytes_total").increment(size);
    let attachment = AttachmentRef::of(&uploaded).to_attachment(&*state.files().urls);
    Ok((StatusCode::CREATED, axum::Json(attachment)))
}

/// Streams the field into `upload`: (size, its first bytes, keyed hash).
async fn stream(
    state: &AppState,
    field: &mut Field<'_>,
    upload: &mut Upload,
    limit: u64,
) -> ApiResult<(u64, Vec<u8>, String)> {
    let mut hasher = state.files().signer.content_hasher();
    let mut head = Vec::with_capacity(HEAD_BYTES);
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::too_large(format!(
                "the file is larger than {limit} bytes (the upload limit, or what is left of your quota)"
            )));
        }
        hasher.update(&chunk);
        if head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        upload
            .write(chunk)
            .await
            .map_err(|e| store_unavailable(&e))?;
    }
    Ok((size, head, hasher.finish()))
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
