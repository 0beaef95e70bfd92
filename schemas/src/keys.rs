//! End-to-end encryption: what the server keeps of it. In a room created with `e2ee`, messages
//! carry only [`Encrypted`] payloads, which the server stores and delivers untouched and never
//! reads; devices publish their public keys to a per-user directory ([`DeviceKey`]) that the
//! people who share a room with them can read. Private keys never reach the server.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A message's content, encrypted by the sender's device for the room's devices: opaque to the
/// server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Encrypted {
    /// The encrypted payload (for instance base64), as the client made it.
    pub ciphertext: String,
    /// The sending device's key (`key_id` in its owner's key directory).
    pub device_key_id: String,
}

/// `device.key_published`: a device of the actor published (or replaced) a public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyPublished {
    pub key_id: String,
    /// The scheme the key is for, as clients name it (`x25519`, `ed25519`, `p256`, ...).
    pub algorithm: String,
    /// The public key, encoded as the client chose (for instance base64).
    pub public_key: String,
}

/// `device.key_revoked`: the actor withdrew a key (a lost or retired device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyRevoked {
    pub key_id: String,
}

/// A key in a user's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceKey {
    pub user_id: Uuid,
    pub key_id: String,
    pub algorithm: String,
    pub public_key: String,
    pub published_at: DateTime<Utc>,
}

/// `PUT /v1/me/keys/{key_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishKeyRequest {
    pub algorithm: String,
    pub public_key: String,
}

/// A user's keys, or a room's members' keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyList {
    pub keys: Vec<DeviceKey>,
}
