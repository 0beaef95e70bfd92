//! The event envelope and every event type in the log.
//!
//! Events are facts, named in the past tense. Their `type` string is stable; a changed shape
//! gets a new `version` and an upcaster in [`crate::upcast`], so old events in the log still
//! decode into today's types.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod accounts;
mod ends;
pub mod messages;
pub mod rooms;
mod sealing;
pub mod version;

pub use crate::files::{FileRemoved, FileUploaded};
pub use accounts::*;
pub use ends::ends;
pub use messages::*;
pub use rooms::*;
pub use sealing::{personal_fields, slot_of, takes_slot};
pub use version::{DecodeError, current_version};

/// One event as stored in the log. The JetStream stream sequence is its `seq`; it is not part of
/// the stored bytes because it is only known once the log has accepted the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// UUIDv7, unique per event.
    pub id: Uuid,
    /// Shape version of `data` for this `type`.
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    /// The user who caused the event.
    pub actor_id: Uuid,
    /// Set on every room-scoped event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<Uuid>,
    #[serde(flatten)]
    pub body: EventBody,
    /// The personal data of `data`, sealed (those fields are blank in `data`); absent in
    /// events written before sealing, whose data is plain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<crate::sealed::Sealed>,
    /// Set when the event was unsealed and a key was gone: its sealed fields are erased
    /// (blank). Never stored.
    #[serde(skip)]
    pub erased: bool,
}

/// The `type` and `data` of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum EventBody {
    #[serde(rename = "user.registered")]
    UserRegistered(UserRegistered),
    #[serde(rename = "user.profile_updated")]
    UserProfileUpdated(UserProfileUpdated),
    #[serde(rename = "room.created")]
    RoomCreated(RoomCreated),
    #[serde(rename = "room.updated")]
    RoomUpdated(RoomUpdated),
    #[serde(rename = "room.archived")]
    RoomArchived(RoomArchived),
    #[serde(rename = "member.joined")]
    MemberJoined(MemberChanged),
    #[serde(rename = "member.invited")]
    MemberInvited(MemberChanged),
    #[serde(rename = "member.left")]
    MemberLeft(MemberRemoved),
    #[serde(rename = "member.kicked")]
    MemberKicked(MemberRemoved),
    #[serde(rename = "member.role_changed")]
    MemberRoleChanged(MemberChanged),
    /// A moderator muted a member until a time (they cannot send until then).
    #[serde(rename = "member.muted")]
    MemberMuted(MemberMuted),
    #[serde(rename = "member.unmuted")]
    MemberUnmuted(MemberRemoved),
    /// A moderator banned a user: removed from the room, and cannot join it again.
    #[serde(rename = "member.banned")]
    MemberBanned(MemberRemoved),
    #[serde(rename = "member.unbanned")]
    MemberUnbanned(MemberRemoved),
    #[serde(rename = "message.posted")]
    MessagePosted(MessagePosted),
    #[serde(rename = "message.edited")]
    MessageEdited(MessageEdited),
    #[serde(rename = "message.deleted")]
    MessageDeleted(MessageRef),
    #[serde(rename = "reaction.added")]
    ReactionAdded(ReactionChanged),
    #[serde(rename = "reaction.removed")]
    ReactionRemoved(ReactionChanged),
    #[serde(rename = "message.pinned")]
    MessagePinned(MessageRef),
    #[serde(rename = "message.unpinned")]
    MessageUnpinned(MessageRef),
    #[serde(rename = "read.updated")]
    ReadUpdated(ReadUpdated),
    /// Coalesced delivery receipts (the actor is nil: a gateway, for the members named).
    #[serde(rename = "delivered.updated")]
    DeliveredUpdated(DeliveredUpdated),
    #[serde(rename = "file.uploaded")]
    FileUploaded(FileUploaded),
    #[serde(rename = "file.removed")]
    FileRemoved(FileRemoved),
    #[serde(rename = "message.preview_added")]
    PreviewAdded(crate::previews::PreviewAdded),
    #[serde(rename = "call.ended")]
    CallEnded(crate::calls::CallEnded),
    #[serde(rename = "device.key_published")]
    KeyPublished(crate::keys::KeyPublished),
    #[serde(rename = "device.key_revoked")]
    KeyRevoked(crate::keys::KeyRevoked),
    #[serde(rename = "session.started")]
    SessionStarted(crate::sessions::SessionStarted),
    #[serde(rename = "session.refreshed")]
    SessionRefreshed(crate::sessions::SessionRefreshed),
    #[serde(rename = "session.ended")]
    SessionEnded(crate::sessions::SessionEnded),
    #[serde(rename = "user.sessions_ended")]
    SessionsEnded(crate::sessions::SessionsEnded),
    #[serde(rename = "user.password_changed")]
    PasswordChanged(crate::sessions::PasswordChanged),
    #[serde(rename = "user.blocked")]
    UserBlocked(crate::people::Blocked),
    #[serde(rename = "user.unblocked")]
    UserUnblocked(crate::people::Blocked),
    #[serde(rename = "user.settings_updated")]
    SettingsUpdated(crate::people::SettingsUpdated),
    #[serde(rename = "user.room_muted")]
    RoomMuted(crate::people::RoomMuted),
    #[serde(rename = "user.erased")]
    UserErased(crate::people::UserErased),
    #[serde(rename = "user.name_released")]
    NameReleased(crate::people::NameReleased),
    /// A member of a direct conversation that waited for their acceptance accepted it.
    #[serde(rename = "member.accepted")]
    MemberAccepted(MemberRemoved),
}

impl EventBody {
    /// The stable type string, as in the log and on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::UserRegistered(_) => "user.registered",
            Self::UserProfileUpdated(_) => "user.profile_updated",
            Self::RoomCreated(_) => "room.created",
            Self::RoomUpdated(_) => "room.updated",
            Self::RoomArchived(_) => "room.archived",
            Self::MemberJoined(_) => "member.joined",
            Self::MemberInvited(_) => "member.invited",
            Self::MemberLeft(_) => "member.left",
            Self::MemberKicked(_) => "member.kicked",
            Self::MemberRoleChanged(_) => "member.role_changed",
            Self::MemberMuted(_) => "member.muted",
            Self::MemberUnmuted(_) => "member.unmuted",
            Self::MemberBanned(_) => "member.banned",
            Self::MemberUnbanned(_) => "member.unbanned",
            Self::MessagePosted(_) => "message.posted",
            Self::MessageEdited(_) => "message.edited",
            Self::MessageDeleted(_) => "message.deleted",
            Self::ReactionAdded(_) => "reaction.added",
            Self::ReactionRemoved(_) => "reaction.removed",
            Self::MessagePinned(_) => "message.pinned",
            Self::MessageUnpinned(_) => "message.unpinned",
            Self::ReadUpdated(_) => "read.updated",
            Self::DeliveredUpdated(_) => "delivered.updated",
            Self::FileUploaded(_) => "file.uploaded",
            Self::FileRemoved(_) => "file.removed",
            Self::PreviewAdded(_) => "message.preview_added",
            Self::CallEnded(_) => "call.ended",
            Self::KeyPublished(_) => "device.key_published",
            Self::KeyRevoked(_) => "device.key_revoked",
            Self::SessionStarted(_) => "session.started",
            Self::SessionRefreshed(_) => "session.refreshed",
            Self::SessionEnded(_) => "session.ended",
            Self::SessionsEnded(_) => "user.sessions_ended",
            Self::PasswordChanged(_) => "user.password_changed",
            Self::UserBlocked(_) => "user.blocked",
            Self::UserUnblocked(_) => "user.unblocked",
            Self::SettingsUpdated(_) => "user.settings_updated",
            Self::RoomMuted(_) => "user.room_muted",
            Self::MemberAccepted(_) => "member.accepted",
            Self::UserErased(_) => "user.erased",
            Self::NameReleased(_) => "user.name_released",
        }
    }

    /// The version written for new events of this type.
    pub fn current_version(&self) -> u32 {
        current_version(self.type_name())
    }

    /// Users this event is addressed to personally (a `notice` on their sockets), beyond the
    /// room's subscribers.
    pub fn addressed_users(&self) -> Vec<Uuid> {
        match self {
            Self::RoomCreated(c) => c.members.iter().map(|m| m.user_id).collect(),
            Self::MemberJoined(m) | Self::MemberInvited(m) | Self::MemberRoleChanged(m) => {
                vec![m.user_id]
            }
            Self::MemberLeft(m)
            | Self::MemberKicked(m)
            | Self::MemberUnmuted(m)
            | Self::MemberBanned(m)
            | Self::MemberUnbanned(m)
            | Self::MemberAccepted(m) => vec![m.user_id],
            Self::MemberMuted(m) => vec![m.user_id],
            // Mentioned users hear of it wherever they are connected (not the author: a
            // self-mention is not news). Edits do not notify again.
            Self::MessagePosted(p) => p.mentions.clone(),
            _ => Vec::new(),
        }
    }
}

impl Event {
    /// A new event happening now.
    pub fn new(actor_id: Uuid, room_id: Option<Uuid>, body: EventBody) -> Self {
        Self {
            id: Uuid::now_v7(),
            version: body.current_version(),
            occurred_at: Utc::now(),
            actor_id,
            room_id,
            body,
            sealed: None,
            erased: false,
        }
    }

    pub fn type_name(&self) -> &'static str {
        self.body.type_name()
    }

    /// Users this event is addressed to personally ([`EventBody::addressed_users`]), and the
    /// actor of an event that ends sessions (their sockets of those sessions close) or
    /// changes whom they block (their sockets filter by it) or their settings.
    pub fn addressed_users(&self) -> Vec<Uuid> {
        match &self.body {
            EventBody::SessionEnded(_)
            | EventBody::SessionsEnded(_)
            | EventBody::PasswordChanged(_)
            | EventBody::UserBlocked(_)
            | EventBody::UserUnblocked(_)
            | EventBody::SettingsUpdated(_)
            | EventBody::RoomMuted(_) => vec![self.actor_id],
            EventBody::UserErased(e) => vec![e.user_id],
            body => body.addressed_users(),
        }
    }

    /// Encode for the log.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data structs into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decode from the log, upcasting older versions to the current shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        // Nearly every event in a log is at its type's current version: decode straight into
        // the types (replays decode millions), and take the upcasting path only for the rest.
        if let Ok(event) = serde_json::from_slice::<Self>(bytes)
            && event.version == event.body.current_version()
        {
            return Ok(event);
        }
        let mut raw: serde_json::Value = serde_json::from_slice(bytes)?;
        crate::upcast::upcast(&mut raw)?;
        Ok(serde_json::from_value(raw)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_bytes_with_type_and_data() {
        let event = Event::new(
            Uuid::now_v7(),
            Some(Uuid::now_v7()),
            EventBody::MessagePosted(MessagePosted {
                message_id: Uuid::now_v7(),
                client_msg_id: "c1".into(),
                body: "hi".into(),
                thread_root_id: None,
                mentions: vec![],
                checked_at: None,
                attachments: Vec::new(),
                format: Default::default(),
                mention_names: Vec::new(),
                encrypted: None,
            }),
        );
        let bytes = event.to_bytes();
        let raw: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(raw["type"], "message.posted");
        assert_eq!(raw["data"]["body"], "hi");
        assert_eq!(raw["version"], 1);
        assert_eq!(Event::from_bytes(&bytes).expect("decode"), event);
    }

    #[test]
    fn unknown_versions_are_refused_not_misread() {
        let raw = serde_json::json!({
            "id": Uuid::now_v7(), "version": 9, "occurred_at": Utc::now(),
            "actor_id": Uuid::now_v7(), "type": "room.archived", "data": {}
        });
        let err = Event::from_bytes(&serde_json::to_vec(&raw).expect("json"))
            .expect_err("version 9 is unknown");
        assert!(matches!(
            err,
            DecodeError::UnknownVersion { version: 9, .. }
        ));
    }
}
