//! What a user decides about other people: whom they block, and whether direct conversations
//! from strangers wait for their acceptance.

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
}

/// `PATCH /v1/me/settings`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettingsRequest {
    #[serde(default)]
    pub dm_requests: Option<bool>,
}
