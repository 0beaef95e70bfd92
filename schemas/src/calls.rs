//! Calls: WebRTC signalling relayed between members of a room (never stored), the summary
//! the log keeps of each call, and the ICE servers clients are given.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a `call` frame does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallAction {
    /// Ring the room's other members (starts the call `call_id`, chosen by the caller).
    Invite,
    /// Join the call (relayed to the room's other members).
    Accept,
    /// Refuse it (relayed to the room's other members; the call goes on until a hang-up).
    Decline,
    /// A WebRTC session description offered to one member (`to`).
    Offer,
    /// The answer to an offer, to one member (`to`).
    Answer,
    /// An ICE candidate, to one member (`to`).
    Candidate,
    /// End the call for everyone (relayed); the room's log gets its `call.ended`.
    Hangup,
}

impl CallAction {
    /// Whether the action goes to one member (`to`) rather than all the others.
    pub fn is_directed(self) -> bool {
        matches!(self, Self::Offer | Self::Answer | Self::Candidate)
    }
}

/// `call.ended`: a call in the room is over (the actor hung up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallEnded {
    pub call_id: Uuid,
    /// Who invited.
    pub caller: Uuid,
    /// Who accepted (besides the caller), in order.
    pub participants: Vec<Uuid>,
    /// When the invite went out.
    pub started_at: DateTime<Utc>,
    /// Seconds from the first accept to the hang-up; 0 for a call nobody accepted.
    pub duration_secs: u64,
    /// Whether anyone accepted (a missed call otherwise).
    pub answered: bool,
}

/// A call as a room's history lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallSummary {
    pub call_id: Uuid,
    pub room_id: Uuid,
    pub caller: Uuid,
    pub participants: Vec<Uuid>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub ended_by: Uuid,
    pub duration_secs: u64,
    pub answered: bool,
    /// `seq` of the `call.ended` event.
    pub seq: i64,
}

/// `GET /v1/rooms/{id}/calls`: the newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallList {
    pub calls: Vec<CallSummary>,
}

/// An ICE server, in the form `RTCPeerConnection` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `GET /v1/calls/ice_servers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IceServers {
    pub ice_servers: Vec<IceServer>,
    /// When the TURN credentials stop working (seconds since the epoch); absent without TURN
    /// credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}
