//! Link previews: what natter's preview worker found at a link of a message, as the log
//! records it (`message.preview_added`) and as clients see it.
//!
//! A preview's image was fetched by natter and stored as a file of the message's sender
//! (`file.uploaded`), so that clients load it from natter, never from the third party.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::files::FileUrls;

/// `message.preview_added`: a preview of one of a message's links (the actor is the
/// message's sender). A message keeps one preview per URL: a later one replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PreviewAdded {
    pub message_id: Uuid,
    #[serde(flatten)]
    pub preview: PreviewRef,
}

/// A preview as the log and history keep it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PreviewRef {
    /// The link as the message has it.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// The page's image, as natter stored it (at most 320 px on its longer side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<PreviewImage>,
}

/// A preview's image: a file in natter's store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PreviewImage {
    pub file_id: Uuid,
    pub width: u32,
    pub height: u32,
}

/// A preview as clients see it: in a message's `previews`, and (with `message_id`) as the
/// data of `message.preview_added`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Preview {
    pub url: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub site_name: Option<String>,
    /// A signed, expiring URL of the image on natter (like a file's `url`).
    pub image_url: Option<String>,
    pub image_width: Option<u32>,
    pub image_height: Option<u32>,
}

impl PreviewRef {
    /// The preview as clients see it, its image named by `urls`.
    pub fn to_preview(&self, urls: &dyn FileUrls) -> Preview {
        Preview {
            url: self.url.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            site_name: self.site_name.clone(),
            image_url: self.image.as_ref().map(|i| urls.url(i.file_id, false)),
            image_width: self.image.as_ref().map(|i| i.width),
            image_height: self.image.as_ref().map(|i| i.height),
        }
    }
}
