//! Personal data sealed in events, so that it can be forgotten: each sealed field is encrypted
//! with a key of its owner (and, for a message version, of its slot), bound to the event's id
//! and the field's name. Destroying the key (the owner's erasure, the message's delete) erases
//! the field everywhere the log is read. The keys and the sealing are `natter-vault`'s.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Slots per block: a block is reserved (stored) before any of its slots is used.
pub const SLOTS_PER_BLOCK: u16 = 256;

/// A message version's slot: one key of a block of keys reserved ahead of time. Written as
/// `<block>:<index>` where a read model keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct SlotRef {
    pub block: Uuid,
    pub index: u16,
}

impl SlotRef {
    pub fn to_text(self) -> String {
        format!("{}:{}", self.block, self.index)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (block, index) = text.split_once(':')?;
        Some(Self {
            block: block.parse().ok()?,
            index: index.parse().ok()?,
        })
    }
}

/// The sealed fields of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sealed {
    /// Whose key seals them.
    pub owner: Uuid,
    /// A message version's slot (posts and edits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<SlotRef>,
    /// Each sealed field's ciphertext (base64), by the field's name.
    pub fields: BTreeMap<String, String>,
}
