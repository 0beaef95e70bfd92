//! Rooms and their members.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Role, RoomKind, Visibility};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoomCreated {
    pub kind: RoomKind,
    pub name: String,
    pub visibility: Visibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Every initial member with their role; the creator of a room is its owner.
    pub members: Vec<RoomMember>,
    /// End-to-end encrypted: messages carry only `encrypted` payloads. Set at creation, for
    /// good.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub e2ee: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoomMember {
    pub user_id: Uuid,
    pub role: Role,
    /// A conversation or room from someone this member has not accepted, waiting for their
    /// acceptance.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoomUpdated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Some("")` clears the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoomArchived {}

/// `member.joined`, `member.invited` (added by someone else) and `member.role_changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberChanged {
    pub user_id: Uuid,
    pub role: Role,
    /// `member.invited` only: the invitee has not accepted the adder (they asked for
    /// conversation requests and share nothing they chose with them), so the membership waits
    /// in their requests until they accept it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberMuted {
    pub user_id: Uuid,
    pub until: DateTime<Utc>,
}

/// `member.left`, `member.kicked`, `member.unmuted`, `member.banned`, `member.unbanned`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberRemoved {
    pub user_id: Uuid,
}
