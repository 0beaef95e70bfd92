//! Personal data sealed in events, so that it can be forgotten: each sealed field is encrypted
//! with a key of its owner (and, for a message version, of its slot), bound to the event's id
//! and the field's name. Destroying the key (the owner's erasure, the message's delete) erases
//! the field everywhere the log is read. The keys and the sealing are `natter-vault`'s.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Slots per block: a block is reserved (stored) before any of its slots is used.
pub const SLOTS_PER_BLOCK: u16 = 256;

/// A message version's slot: one key of a block of keys reserved ahead of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct SlotRef {
    pub block: Uuid,
    pub index: u16,
}
