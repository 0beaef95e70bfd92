//! Messages and what happens to them: posts, edits, deletes, reactions, pins, reads,
//! deliveries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::files::AttachmentRef;
use crate::text::Format;

/// A message was posted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessagePosted {
    /// Derived from the sender and `client_msg_id` (UUIDv5), so a retried send names the same
    /// message.
    pub message_id: Uuid,
    pub client_msg_id: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root_id: Option<Uuid>,
    #[serde(default)]
    pub mentions: Vec<Uuid>,
    /// The seq of the log as the send's access check saw it: the history read model's
    /// checkpoint in the query, or the position of the gateway's feed of the room. Lets every
    /// reader of the log tell whether the sender lost the right to post in the room between
    /// that check and the post itself. Absent in posts from before 0.3 and in generated logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<u64>,
    /// The sender's uploads it carries, as they were when it was sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    /// How `body` is written (absent: plain).
    #[serde(default, skip_serializing_if = "Format::is_plain")]
    pub format: Format,
    /// In Markdown, the usernames of `mentions` as the body names them, in the same order, so
    /// that readers render each as a link to its user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_names: Vec<String>,
    /// In an end-to-end encrypted room, the content (and `body` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<crate::keys::Encrypted>,
}

/// A message's body was changed by its author. `mentions` replaces the message's mentions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageEdited {
    pub message_id: Uuid,
    pub body: String,
    #[serde(default)]
    pub mentions: Vec<Uuid>,
    /// How the new `body` is written (absent: plain).
    #[serde(default, skip_serializing_if = "Format::is_plain")]
    pub format: Format,
    /// As in `message.posted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_names: Vec<String>,
    /// As in `message.posted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<crate::keys::Encrypted>,
}

/// `message.deleted`, `message.pinned`, `message.unpinned`: something happened to one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageRef {
    pub message_id: Uuid,
}

/// `reaction.added` and `reaction.removed`: the actor's own reaction with one emoji.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReactionChanged {
    pub message_id: Uuid,
    pub emoji: String,
}

/// The actor has read the room up to `seq` (read positions only move forward).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReadUpdated {
    pub seq: u64,
}

/// Members' devices have received the room's events up to their `seq`s: what one gateway
/// was told over an interval, coalesced into one event per room (positions only move
/// forward, and never past this event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveredUpdated {
    pub positions: Vec<DeliveredPosition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveredPosition {
    pub user_id: Uuid,
    pub seq: u64,
}
