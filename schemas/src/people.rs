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
