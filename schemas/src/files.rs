//! Files: the events that record them in the log, and attachments as messages carry them.
//!
//! A file's bytes live in the file store under its id, never in the log; the log records what
//! a rebuild needs (`file.uploaded`, `file.removed`). A file's name is its uploader's personal
//! data: it is kept in the `name` fields only, so that erasure has one field per event to
//! encrypt.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `file.uploaded`: a file's bytes are in the file store; the event's actor uploaded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FileUploaded {
    pub file_id: Uuid,
    /// The name it was uploaded with (personal data of the uploader).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Detected from the bytes, not taken from the client.
    pub content_type: String,
    /// Set for images natter could decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageMeta>,
    /// HMAC-SHA256 of the bytes under a key of the server (hex): equal files have equal
    /// hashes, but nobody without the key can confirm a guess of what a file holds.
    pub hash: String,
}

/// An image's size, and its thumbnail if one was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageMeta {
    pub width: u32,
    pub height: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<ThumbnailMeta>,
}

/// A thumbnail (at most 320 px on its longer side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ThumbnailMeta {
    pub width: u32,
    pub height: u32,
    pub content_type: String,
    pub size: u64,
}

/// `file.removed`: a file's bytes were deleted from the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FileRemoved {
    pub file_id: Uuid,
    pub reason: RemovalReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// Never attached to a message within the time allowed.
    NeverAttached,
    /// Every message that carried it was deleted.
    NoLongerShown,
}

/// A file as a message carries it in the log: its metadata when the message was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentRef {
    pub file_id: Uuid,
    /// Personal data of the uploader (the sender).
    pub name: String,
    pub size: u64,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default)]
    pub thumbnail: bool,
}

impl AttachmentRef {
    /// A file's reference, from its upload.
    pub fn of(uploaded: &FileUploaded) -> Self {
        Self {
            file_id: uploaded.file_id,
            name: uploaded.name.clone(),
            size: uploaded.size,
            content_type: uploaded.content_type.clone(),
            width: uploaded.image.as_ref().map(|i| i.width),
            height: uploaded.image.as_ref().map(|i| i.height),
            thumbnail: uploaded
                .image
                .as_ref()
                .is_some_and(|i| i.thumbnail.is_some()),
        }
    }

    /// An image natter recognised from its bytes (`has=image`).
    pub fn is_image(&self) -> bool {
        matches!(
            self.content_type.as_str(),
            "image/png" | "image/jpeg" | "image/gif" | "image/webp"
        )
    }

    /// The attachment as clients get it, with URLs from `urls`.
    pub fn to_attachment(&self, urls: &dyn FileUrls) -> Attachment {
        Attachment {
            id: self.file_id,
            name: self.name.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            url: urls.url(self.file_id, false),
            thumbnail_url: self.thumbnail.then(|| urls.url(self.file_id, true)),
            width: self.width,
            height: self.height,
        }
    }
}

/// Mints the URLs of files (signed, expiring) for messages being encoded.
pub trait FileUrls: Send + Sync {
    /// The URL of `file`, or of its thumbnail.
    fn url(&self, file: Uuid, thumbnail: bool) -> String;
}

/// URLs for tests and tools: the plain path, unsigned (works with a Bearer token only).
pub struct PlainUrls;

impl FileUrls for PlainUrls {
    fn url(&self, file: Uuid, thumbnail: bool) -> String {
        if thumbnail {
            format!("/v1/files/{file}/thumbnail")
        } else {
            format!("/v1/files/{file}")
        }
    }
}

/// An attachment (or an upload) as clients get it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    pub id: Uuid,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    /// The bytes: a signed URL that works for whoever holds it until it expires (at least an
    /// hour), or with a Bearer token without its query.
    pub url: String,
    /// A thumbnail (images only), signed like `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}
