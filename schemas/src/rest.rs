//! REST request and response bodies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Member, Message, Role, Room, User, Visibility};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RegisterRequest {
    /// 3 to 32 characters: lowercase letters, digits, `_`, `-`. Case-insensitively unique.
    pub username: String,
    /// 8 to 256 characters.
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuthResponse {
    pub user: User,
    /// HS256 JWT; send as `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UpdateMeRequest {
    #[serde(default)]
    pub display_name: Option<String>,
    /// `""` clears it.
    #[serde(default)]
    pub status_text: Option<String>,
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
    pub body: String,
    /// Chosen by the client, unique per sender: a retry with the same id is answered with the
    /// original message. 1 to 64 characters.
    pub client_msg_id: String,
    #[serde(default)]
    pub thread_root_id: Option<Uuid>,
    #[serde(default)]
    pub attachment_ids: Option<Vec<Uuid>>,
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
