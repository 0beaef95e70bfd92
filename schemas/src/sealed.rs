//! Personal data sealed in events, so that it can be forgotten: each sealed field is encrypted
//! with a key of its owner (and, for a message version, of its slot), bound to the event's id
//! and the field's name. Destroying the key (the owner's erasure, the message's delete) erases
//! the field everywhere the log is read. The keys and the sealing are `natter-vault`'s.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Credentials, EventBody};

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

/// The slot of a message version (`message.posted`, `message.edited`), as it was sealed.
pub fn slot_of(event: &crate::Event) -> Option<SlotRef> {
    event.sealed.as_ref().and_then(|s| s.slot)
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

/// Whether events of this type are sealed with a slot of their own (message versions, each
/// erasable alone).
pub fn takes_slot(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::MessagePosted(_) | EventBody::MessageEdited(_)
    )
}

/// The personal data of an event, by field name, as places to seal from and unseal into:
/// message bodies and the names of the files they carry; usernames, display names, status
/// texts, password hashes and the devices people sign in from; uploaded files' names. Empty for other events (and for a
/// message's encrypted content, which the server cannot read anyway).
pub fn personal_fields(body: &mut EventBody) -> Vec<(String, &mut String)> {
    let mut fields: Vec<(String, &mut String)> = Vec::new();
    match body {
        EventBody::MessagePosted(p) => {
            fields.push(("body".into(), &mut p.body));
            for (i, a) in p.attachments.iter_mut().enumerate() {
                fields.push((format!("attachments.{i}.name"), &mut a.name));
            }
        }
        EventBody::MessageEdited(e) => fields.push(("body".into(), &mut e.body)),
        EventBody::UserRegistered(u) => {
            fields.push(("username".into(), &mut u.username));
            fields.push(("display_name".into(), &mut u.display_name));
            let Credentials::Password { hash } = &mut u.credentials;
            fields.push(("credentials.hash".into(), hash));
        }
        EventBody::UserProfileUpdated(u) => {
            if let Some(name) = &mut u.display_name {
                fields.push(("display_name".into(), name));
            }
            if let Some(status) = &mut u.status_text {
                fields.push(("status_text".into(), status));
            }
        }
        EventBody::PasswordChanged(p) => {
            let Credentials::Password { hash } = &mut p.credentials;
            fields.push(("credentials.hash".into(), hash));
            if let Some(device) = &mut p.session.device {
                fields.push(("session.device".into(), device));
            }
        }
        EventBody::SessionStarted(s) => {
            if let Some(device) = &mut s.device {
                fields.push(("device".into(), device));
            }
        }
        EventBody::FileUploaded(f) => fields.push(("name".into(), &mut f.name)),
        _ => {}
    }
    fields
}
