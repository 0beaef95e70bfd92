//! Objects of the public API: users, rooms, members, messages.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }

    /// Owners and admins moderate a room.
    pub fn is_admin(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Self::Public),
            "private" => Some(Self::Private),
            _ => None,
        }
    }
}

/// A room is a named room; a `dm` is a direct conversation between a fixed set of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Room,
    Dm,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Room => "room",
            Self::Dm => "dm",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "room" => Some(Self::Room),
            "dm" => Some(Self::Dm),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub status_text: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The avatar's thumbnail (at most 320 px): a signed URL, like a file's.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// The avatar's file, named by `avatar_url` once [`User::with_urls`] has run.
    #[serde(skip)]
    pub avatar_id: Option<Uuid>,
}

impl User {
    /// The user with `avatar_url` minted by `urls`.
    pub fn with_urls(mut self, urls: &dyn crate::files::FileUrls) -> Self {
        self.avatar_url = self.avatar_id.map(|file| urls.url(file, true));
        self
    }
}

/// Who may read a room: its members, and anyone when it is public.
pub fn can_read(visibility: Visibility, role: Option<Role>) -> bool {
    role.is_some() || visibility == Visibility::Public
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Room {
    pub id: Uuid,
    pub kind: RoomKind,
    pub name: String,
    pub topic: Option<String>,
    pub visibility: Visibility,
    pub archived: bool,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub member_count: i64,
    /// `seq` of the newest event in the room.
    pub last_seq: i64,
    /// The caller's role, when the caller is a member.
    pub my_role: Option<Role>,
    /// End-to-end encrypted: messages carry only `encrypted` payloads (set at creation).
    pub e2ee: bool,
    /// Joined rooms only: others' messages after the caller's read position, not deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<i64>,
    /// Joined rooms only: unread messages that mention the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentions: Option<i64>,
    /// Joined rooms only: the caller's read position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_seq: Option<i64>,
    /// Joined rooms only (`GET /v1/rooms`): the newest message not deleted, or `null`.
    #[serde(default)]
    pub last_message: Option<Box<Message>>,
    /// Direct conversations in `GET /v1/rooms`: the other members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<DmMember>>,
    /// A conversation or room from someone the viewer has not accepted, waiting for their
    /// acceptance (`POST /v1/rooms/{id}/accept`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// Another member of a direct conversation, as the conversation list names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DmMember {
    pub user_id: Uuid,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    /// Set while a moderator has muted the member: they cannot send until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<DateTime<Utc>>,
    /// How the membership began: `joined` (they created or joined the room), `added` (by
    /// `added_by`, and not accepted yet) or `accepted` (added, then accepted or posted).
    pub origin: MemberOrigin,
    /// Who put them in the room, when someone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<Uuid>,
    /// The membership waits in their requests (`POST /v1/rooms/{id}/accept`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// How a membership began (see [`Member::origin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberOrigin {
    Joined,
    Added,
    Accepted,
}

impl MemberOrigin {
    /// From the read model's `added_by` and `accepted`.
    pub fn of(added_by: Option<Uuid>, accepted: bool) -> Self {
        match (added_by, accepted) {
            (None, _) => Self::Joined,
            (Some(_), true) => Self::Accepted,
            (Some(_), false) => Self::Added,
        }
    }
}

/// A user banned from a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ban {
    pub user_id: Uuid,
    pub banned_by: Uuid,
    pub banned_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Whether the caller reacted with this emoji.
    pub me: bool,
}

/// A message as every reader sees it. A deleted message keeps its place with `body: null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    pub id: Uuid,
    pub room_id: Uuid,
    pub seq: i64,
    pub sender_id: Uuid,
    pub client_msg_id: String,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub thread_root_id: Option<Uuid>,
    /// Thread roots: how many replies (not deleted) the thread has.
    pub reply_count: i64,
    /// Thread roots: when the newest reply was posted.
    pub last_reply_at: Option<DateTime<Utc>>,
    /// Thread roots: who replied, in order of their first reply (at most 20).
    pub thread_participants: Vec<Uuid>,
    /// Counts per emoji, in order of first use.
    pub reactions: Vec<Reaction>,
    pub attachments: Vec<crate::files::Attachment>,
    pub mentions: Vec<Uuid>,
    /// How `body` is written.
    pub format: crate::text::Format,
    /// Markdown: `body` rendered and sanitised, safe to insert into a page (mentions are
    /// `<a class="mention" data-user-id>` links); `null` for plain text and deleted messages.
    pub html: Option<String>,
    /// Previews of its links, in the order they were made (none once deleted).
    pub previews: Vec<crate::previews::Preview>,
    /// In an end-to-end encrypted room: the content, as the sender's device encrypted it
    /// (`body` is then `""`); `null` otherwise and once deleted.
    pub encrypted: Option<crate::keys::Encrypted>,
    /// Its author's account was erased: it keeps its place, without its text (`body` is
    /// `null`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

impl Message {
    /// The message without what an erasure took: its text, files and previews.
    pub fn erased(mut self) -> Self {
        self.body = None;
        self.html = None;
        self.attachments.clear();
        self.previews.clear();
        self.erased = true;
        self
    }

    /// The message as first posted, for live delivery of `message.posted`.
    pub fn from_posted(
        room_id: Uuid,
        seq: u64,
        sender_id: Uuid,
        occurred_at: DateTime<Utc>,
        posted: &crate::event::messages::MessagePosted,
        urls: &dyn crate::files::FileUrls,
    ) -> Self {
        Self {
            id: posted.message_id,
            room_id,
            seq: i64::try_from(seq).unwrap_or(i64::MAX),
            sender_id,
            client_msg_id: posted.client_msg_id.clone(),
            body: Some(posted.body.clone()),
            created_at: occurred_at,
            edited_at: None,
            deleted: false,
            thread_root_id: posted.thread_root_id,
            reply_count: 0,
            last_reply_at: None,
            thread_participants: Vec::new(),
            reactions: Vec::new(),
            attachments: posted
                .attachments
                .iter()
                .map(|a| a.to_attachment(urls))
                .collect(),
            mentions: posted.mentions.clone(),
            format: posted.format,
            html: crate::text::html(
                &posted.body,
                posted.format,
                &posted.mentions,
                &posted.mention_names,
            ),
            previews: Vec::new(),
            encrypted: posted.encrypted.clone(),
            erased: false,
        }
    }
}

/// One version of a message's body: the original post, then each edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageVersion {
    /// `seq` of the event that set this body (`message.posted` or `message.edited`).
    pub seq: i64,
    pub body: String,
    /// In an end-to-end encrypted room, this version's content.
    pub encrypted: Option<crate::keys::Encrypted>,
    pub format: crate::text::Format,
    /// As in the message object: the version rendered, for Markdown.
    pub html: Option<String>,
    pub at: DateTime<Utc>,
}

/// A pinned message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pin {
    pub message: Message,
    pub pinned_by: Uuid,
    pub pinned_at: DateTime<Utc>,
    /// `seq` of the `message.pinned` event.
    pub seq: i64,
}

/// A member's read position in a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Receipt {
    pub user_id: Uuid,
    pub last_read_seq: i64,
    pub read_at: DateTime<Utc>,
    /// How far the member's devices have received the room's events (at least
    /// `last_read_seq`: what was read was delivered).
    #[serde(default)]
    pub delivered_seq: i64,
}

/// One user's presence, as others see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserPresence {
    pub user_id: Uuid,
    /// `offline` when no socket is connected, or when the user chose `invisible`.
    pub status: crate::frames::PresenceStatus,
    /// The user's text, while they are not offline.
    pub text: Option<String>,
    /// When the user was last connected: set while offline (absent when never seen).
    pub last_seen: Option<DateTime<Utc>>,
}

/// Unread counts of one joined room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoomUnread {
    pub room_id: Uuid,
    /// Others' messages after `last_read_seq` that are not deleted.
    pub unread: i64,
    /// Of those, the ones that mention the caller.
    pub mentions: i64,
    pub last_read_seq: i64,
    /// `seq` of the newest event in the room.
    pub last_seq: i64,
}
