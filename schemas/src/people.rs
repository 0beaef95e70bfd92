//! What a user decides about other people and being reached: whom they block, whether direct
//! conversations from strangers wait for their acceptance, which pushes they get.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `user.blocked`, `user.unblocked`: the actor blocked (or unblocked) `user_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Blocked {
    pub user_id: Uuid,
}

/// `user.settings_updated`: the settings that changed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct SettingsUpdated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_requests: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
}

/// Which messages reach a user who is not connected (through the push hook).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// Direct messages and mentions.
    #[default]
    All,
    /// Mentions only.
    Mentions,
    /// Nothing.
    None,
}

impl Notify {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Mentions => "mentions",
            Self::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all" => Some(Self::All),
            "mentions" => Some(Self::Mentions),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// `user.room_muted`: the actor muted (or unmuted) a room's notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoomMuted {
    pub room_id: Uuid,
    pub muted: bool,
}

/// `PUT /v1/rooms/{id}/notifications`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomNotifications {
    pub muted: bool,
}

/// `GET /v1/me/blocks`: whom the caller blocks, latest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BlockList {
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Block {
    pub user_id: Uuid,
    pub blocked_at: DateTime<Utc>,
}

/// `GET /v1/me/settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Settings {
    /// Direct conversations opened by people who share no room with the user wait for the
    /// user's acceptance (`GET /v1/rooms?scope=requests`, `POST /v1/rooms/{id}/accept`).
    pub dm_requests: bool,
    /// What reaches the user while they are not connected: `all` (direct messages and
    /// mentions), `mentions`, or `none`.
    pub notify: Notify,
    /// Rooms whose messages never reach the user while they are not connected.
    pub muted_rooms: Vec<Uuid>,
}

/// `PATCH /v1/me/settings`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettingsRequest {
    #[serde(default)]
    pub dm_requests: Option<bool>,
    #[serde(default)]
    pub notify: Option<Notify>,
}

/// `user.erased`: the user's account is gone, and with their keys everything they wrote (the
/// actor is the user, or the administrator who erased them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserErased {
    pub user_id: Uuid,
    /// The token their username was registered under (its subject's), to release it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_token: Option<String>,
    /// The rooms they were a member of when they were erased, so that gateways can tell the
    /// others there at once (the read models drop the memberships as they apply the erasure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<Uuid>,
}

/// `user.name_released`: on a username's subject, after its user was erased: the name may be
/// registered again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NameReleased {
    pub user_id: Uuid,
}

/// `DELETE /v1/me`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    pub password: String,
}

/// `GET /v1/me/export`: the caller's own data.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserExport {
    pub exported_at: DateTime<Utc>,
    pub user: crate::model::User,
    pub settings: Settings,
    pub sessions: Vec<crate::sessions::SessionInfo>,
    pub blocks: Vec<Block>,
    pub device_keys: Vec<crate::keys::DeviceKey>,
    /// The rooms they are in (and the direct conversations waiting for them).
    pub rooms: Vec<crate::model::Room>,
    /// Their messages that are not deleted, oldest first (at most 100,000).
    pub messages: Vec<crate::model::Message>,
    pub files: Vec<ExportedFile>,
}

/// One of their uploads, as the export lists it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExportedFile {
    pub id: Uuid,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub uploaded_at: DateTime<Utc>,
    /// The bytes (a signed URL, like a file's).
    pub url: String,
}
