//! WebSocket frames: text frames, one JSON object each, with a `type`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ErrorDetail;

/// A frame from a client. `id`, when present, is echoed in exactly one `reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientEnvelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    #[serde(flatten)]
    pub frame: ClientFrame,
}

/// A request id: a string or a number, echoed as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RequestId {
    Number(i64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Start receiving a room's events; with `since`, first every event after it.
    Subscribe {
        room_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
    },
    Unsubscribe {
        room_id: Uuid,
    },
    Send {
        room_id: Uuid,
        client_msg_id: String,
        #[serde(default)]
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_root_id: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment_ids: Option<Vec<Uuid>>,
        /// `plain` (the default) or `markdown`.
        #[serde(default, skip_serializing_if = "crate::text::Format::is_plain")]
        format: crate::text::Format,
        /// In an end-to-end encrypted room (only): the content, instead of `body`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted: Option<crate::keys::Encrypted>,
    },
    /// Change the body of one's own message; reply: `ChangeReply`. Without `format`, the
    /// new body is written as the message is now.
    Edit {
        message_id: Uuid,
        #[serde(default)]
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<crate::text::Format>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted: Option<crate::keys::Encrypted>,
    },
    /// Delete a message (its author, or a room owner or admin); reply: `ChangeReply`.
    Delete {
        message_id: Uuid,
    },
    /// Add (`on: true`) or remove one's own reaction; reply: `ChangeReply`.
    React {
        message_id: Uuid,
        emoji: String,
        on: bool,
    },
    /// Move one's read position forward; reply: `ReadReply`.
    Read {
        room_id: Uuid,
        seq: u64,
    },
    /// This device has received the room's events up to `seq` (cumulative: send it once per
    /// batch of events, not per event). Reply: `{room_id, delivered_seq}`.
    Delivered {
        room_id: Uuid,
        seq: u64,
    },
    /// Set one's presence: `online`, `away`, `busy` or `invisible` (shown to others as
    /// offline), with a text (`""` clears it; absent keeps it). Reply: one's presence.
    Presence {
        status: PresenceStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// Receive `presence` frames for these users (at most 100 per frame, 500 per socket).
    /// Reply: `{users: [presence...]}`, their presence now.
    PresenceSubscribe {
        user_ids: Vec<Uuid>,
    },
    /// A fresh token for this socket (same user), before the current one expires: the socket
    /// then stays open until the new token's expiry. Reply: `{expires_at}` (seconds since the
    /// epoch). On a socket opened without a token (browsers), it must be the first frame: the
    /// reply, then `hello`.
    Auth {
        token: String,
    },
    /// Typing in a room (ephemeral, never stored). Send `start` again every few seconds while
    /// typing: the server sends `stop` for a typist it has not heard from for about 5 s.
    Typing {
        room_id: Uuid,
        state: TypingState,
    },
    /// Call signalling, relayed at once to the room's other members (or, for `offer`,
    /// `answer` and `candidate`, to the member `to`) and never stored. The caller must be a
    /// member; `data` (a session description, an ICE candidate, what the call carries) is
    /// passed on as it is. Reply: `{}`.
    Call {
        room_id: Uuid,
        call_id: Uuid,
        action: crate::calls::CallAction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
    },
    Ping,
}

impl ClientFrame {
    /// The frame types a client may send, for error messages.
    pub const TYPES: &'static [&'static str] = &[
        "subscribe",
        "unsubscribe",
        "send",
        "edit",
        "delete",
        "react",
        "read",
        "typing",
        "presence",
        "presence_subscribe",
        "auth",
        "call",
        "ping",
    ];
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every socket.
    Hello {
        user_id: Uuid,
        session_id: Uuid,
        heartbeat_ms: u64,
        /// The log's identity; pass it back with `since` on `subscribe`.
        epoch: String,
    },
    /// The answer to a client frame that carried an `id`.
    Reply {
        id: RequestId,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorDetail>,
    },
    /// A room event, in `seq` order per room.
    Event {
        room_id: Uuid,
        seq: u64,
        event: WireEvent,
    },
    /// A user-addressed event (added to a room, removed, ...).
    Notice {
        room_id: Option<Uuid>,
        seq: u64,
        event: WireEvent,
    },
    /// Someone else in a subscribed room started or stopped typing.
    Typing {
        room_id: Uuid,
        user_id: Uuid,
        state: TypingState,
    },
    /// Call signalling from another member of a room (on every socket of the user, whatever
    /// it subscribed to).
    Call {
        room_id: Uuid,
        call_id: Uuid,
        from: Uuid,
        action: crate::calls::CallAction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
    },
    /// A followed user's presence changed.
    Presence {
        user_id: Uuid,
        status: PresenceStatus,
        text: Option<String>,
        last_seen: Option<DateTime<Utc>>,
    },
    /// The server ended a subscription (for example: the user was removed from the room).
    Unsubscribed {
        room_id: Uuid,
        reason: String,
    },
    /// An error for a frame that carried no `id` (or could not be parsed far enough to find it).
    Error {
        error: ErrorDetail,
    },
    Pong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Online,
    Away,
    Busy,
    /// Chosen by a user who wants to look offline; never shown to others.
    Invisible,
    /// Not connected (or invisible), as others see it; not a status one can choose.
    Offline,
}

impl PresenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Busy => "busy",
            Self::Invisible => "invisible",
            Self::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "online" => Some(Self::Online),
            "away" => Some(Self::Away),
            "busy" => Some(Self::Busy),
            "invisible" => Some(Self::Invisible),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypingState {
    Start,
    Stop,
}

/// An event as delivered to clients. For `message.posted`, `data` is the message object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WireEvent {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub data: serde_json::Value,
    /// Set on an event of a message deleted since, read back from the log (a resume): it keeps
    /// its seq, not its text (`message.posted` shows the message as deleted, `message.edited`
    /// only its `message_id`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// `reply.data` for `subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubscribeReply {
    /// `seq` of the newest event in the room when the subscription started.
    pub last_seq: u64,
    pub epoch: String,
    /// `false` when the missed range could not be replayed (other epoch, or too much missed):
    /// reload history over REST.
    pub recovered: bool,
    /// How many missed events follow this reply before live ones.
    pub replayed: u64,
}

/// `reply.data` for `send` and the body of a REST send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SendReply {
    pub message_id: Uuid,
    pub seq: u64,
    /// `true` when this `client_msg_id` was already sent: the original is answered.
    pub duplicate: bool,
}

/// `reply.data` for `read` and the body of `POST /v1/rooms/{id}/read`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReadReply {
    pub room_id: Uuid,
    /// The read position now (never lower than before).
    pub last_read_seq: u64,
    /// The room's counts after the move.
    pub unread: i64,
    pub mentions: i64,
}

/// Close codes the server uses, besides the standard ones.
pub mod close_code {
    /// The token was bad or has expired.
    pub const UNAUTHORIZED: u16 = 4001;
    /// An administrator closed the socket.
    pub const BY_ADMIN: u16 = 4003;
    /// The client did not read its frames fast enough; resume with `since`.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// The user holds as many sockets on this gateway as they may (a socket that signed in
    /// with its first frame; with a token on the upgrade, that is a 429).
    pub const TOO_MANY_CONNECTIONS: u16 = 4029;
    /// The server is shutting down; reconnect (to another gateway).
    pub const GOING_AWAY: u16 = 1001;
    /// A text frame was not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A frame was larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// Deliveries to this gateway were interrupted; reconnect and resume with `since`.
    pub const SERVICE_RESTART: u16 = 1012;
}
