//! REST request and response bodies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{
    Member, Message, MessageVersion, Pin, Receipt, Role, Room, RoomUnread, User, Visibility,
};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RegisterRequest {
    /// 3 to 32 characters: lowercase letters, digits, `_`, `-`. Case-insensitively unique.
    pub username: String,
    /// 8 to 256 characters.
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// What the client is ("Firefox on a laptop"), shown in the session list; the
    /// `User-Agent` when absent.
    #[serde(default)]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// As in [`RegisterRequest::device`].
    #[serde(default)]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuthResponse {
    pub user: User,
    /// HS256 JWT; send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Spend at `POST /v1/auth/refresh` for a new token and a new refresh token; good once.
    pub refresh_token: String,
    /// The session this sign-in began (the token's `sid`).
    pub session_id: Uuid,
}

/// `GET /v1/users?q=`: exact matches first, then by username.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserList {
    pub users: Vec<crate::model::User>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `""` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// One of the caller's uploaded images (`POST /v1/uploads`); `null` takes the avatar away.
    /// Absent, it is left as it is.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub avatar_id: Option<Option<Uuid>>,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CreateRoomRequest {
    pub name: String,
    pub visibility: Visibility,
    #[serde(default)]
    pub topic: Option<String>,
    /// Users added as members besides the creator (the owner).
    #[serde(default)]
    pub member_ids: Option<Vec<Uuid>>,
    /// End-to-end encrypted (private rooms only): messages then carry only `encrypted`
    /// payloads, which the server cannot read. Cannot be changed later.
    #[serde(default)]
    pub e2ee: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UpdateRoomRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// `""` clears it.
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RoomList {
    pub rooms: Vec<Room>,
    /// Joined rooms, paged (`limit` or `cursor` given): pass it back as `cursor` for the next
    /// page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InviteRequest {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SetRoleRequest {
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OpenDmRequest {
    /// The other participants (the caller is always one). 1 to 8 users.
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SendMessageRequest {
    /// Required, unless the message is its files alone or `encrypted`.
    #[serde(default)]
    pub body: String,
    /// Chosen by the client, unique per sender: a retry with the same id is answered with the
    /// original message. 1 to 64 characters.
    pub client_msg_id: String,
    #[serde(default)]
    pub thread_root_id: Option<Uuid>,
    #[serde(default)]
    pub attachment_ids: Option<Vec<Uuid>>,
    /// How `body` is written: `plain` (the default) or `markdown`.
    #[serde(default)]
    pub format: crate::text::Format,
    /// In an end-to-end encrypted room (and only there): the content, instead of `body`
    /// (which must then be empty or absent).
    #[serde(default)]
    pub encrypted: Option<crate::keys::Encrypted>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HistoryPage {
    /// Ascending `seq`.
    pub messages: Vec<Message>,
    pub has_more_before: bool,
    pub has_more_after: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Per dependency: `ok` or the error.
    pub checks: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MuteRequest {
    /// 1 to 43,200 (30 days).
    pub minutes: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BanList {
    pub bans: Vec<crate::model::Ban>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PresenceList {
    pub users: Vec<crate::model::UserPresence>,
}

/// `GET /v1/rooms/{id}/presence`: who of the room's members is online now.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RoomPresence {
    /// Members online (any status but `offline`; `invisible` members count as offline).
    pub online: usize,
    /// The first of them (at most `limit`), by user id.
    pub users: Vec<crate::model::UserPresence>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EditMessageRequest {
    /// Required, unless `encrypted`.
    #[serde(default)]
    pub body: String,
    /// How the new `body` is written; absent: as the message is now.
    #[serde(default)]
    pub format: Option<crate::text::Format>,
    /// In an end-to-end encrypted room: the new content, instead of `body`.
    #[serde(default)]
    pub encrypted: Option<crate::keys::Encrypted>,
}

/// The answer to an edit, delete, reaction or pin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeReply {
    pub message_id: Uuid,
    /// `seq` of the event that made the change; absent when nothing had to change (the message
    /// was already in the asked-for state, as after a retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub changed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EditHistory {
    pub message_id: Uuid,
    /// Oldest first: the original body, then each edit. Empty once the message is deleted.
    pub versions: Vec<MessageVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ThreadPage {
    pub root: Message,
    /// Ascending `seq`.
    pub replies: Vec<Message>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PinRequest {
    pub message_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PinList {
    /// Newest pin first.
    pub pins: Vec<Pin>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReadRequest {
    /// Read up to and including this `seq`; a position never moves backwards.
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReceiptList {
    /// Members whose read position is at or after `seq` (every member's position when no `seq`
    /// was asked for), furthest first.
    pub receipts: Vec<Receipt>,
    /// With `seq`: how many members other than the caller have had the event at `seq`
    /// delivered, and how many have read it ("delivered to n, read by m").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_count: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UnreadSummary {
    /// Joined rooms, the most recently active first.
    pub rooms: Vec<RoomUnread>,
    pub total_unread: i64,
    pub total_mentions: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SearchHit {
    pub message: Message,
    pub room_id: Uuid,
    /// The body with matches wrapped in `<mark>`...`</mark>`. The text around the marks is
    /// the message as written: escape it before rendering it as HTML.
    pub highlight: String,
    pub rank: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SearchPage {
    /// Most relevant first, then newest.
    pub results: Vec<SearchHit>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One GIF from the search provider: clients load `url` and `preview_url` from the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Gif {
    pub id: String,
    pub title: String,
    /// The animation (GIF).
    pub url: String,
    /// A smaller rendition, for a picker.
    pub preview_url: String,
    pub width: u32,
    pub height: u32,
}

/// `GET /v1/gifs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GifList {
    pub gifs: Vec<Gif>,
    /// Who found them (`giphy`): shown as attribution, as the provider requires.
    pub provider: String,
}
