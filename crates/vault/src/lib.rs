//! natter-vault: the keys that let an immutable log forget.
//!
//! Personal data in events is sealed ([`aead`]): each field with a key of its owner, bound to
//! the event's id and the field's name; a message version's body with a key derived from its
//! owner's key and a slot key of its own. The keys live in a JetStream key-value bucket beside
//! the log ([`natter_bus::KeyBucket`]), as available as the log, each wrapped by a
//! key-encryption key kept outside NATS ([`kek`]), which can be rotated (every live key
//! rewrapped), so that a destroyed key is also gone from older copies of the bucket once the
//! old key-encryption key is removed. Destroying a user's key erases everything they wrote;
//! destroying a slot erases one message version. A key that is not there reads as erased.
//!
//! - [`keys`]: the bucket's keys, wrapped and cached.
//! - [`slots`]: slots handed out without a round trip, from blocks stored ahead of need.

pub mod aead;
pub mod kek;
pub mod keys;
pub mod slots;

use std::sync::Arc;
use std::time::Duration;

use natter_bus::{Bus, BusError};
use natter_schemas::sealed::SlotRef;
use uuid::Uuid;

pub use aead::Key;
pub use kek::{KekError, Keks};
pub use keys::{Keys, VaultError};
pub use slots::SlotPool;

/// What a sealed field is bound to: its event and its name.
fn binding(event: Uuid, field: &str) -> Vec<u8> {
    format!("{event}:{field}").into_bytes()
}

/// The keys and the slots of one process.
#[derive(Clone)]
pub struct Vault {
    keys: Arc<Keys>,
    slots: Arc<SlotPool>,
}

impl Vault {
    /// Opens (or creates) the key bucket of `bus`'s log; keys read from it are trusted for
    /// `ttl` (how long a key destroyed by another process may still be used here).
    pub async fn open(
        bus: &Bus,
        keks: Keks,
        replicas: usize,
        ttl: Duration,
    ) -> Result<Self, BusError> {
        let bucket = bus.key_bucket(replicas).await?;
        let keys = Arc::new(Keys::new(bucket, keks, ttl));
        let slots = SlotPool::new(keys.clone());
        Ok(Self { keys, slots })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn slots(&self) -> &Arc<SlotPool> {
        &self.slots
    }

    /// `plain`, the `field` of `event`, sealed with its owner's key.
    pub fn seal_field(user_key: &Key, event: Uuid, field: &str, plain: &[u8]) -> Vec<u8> {
        aead::seal(user_key, &binding(event, field), plain)
    }

    /// `plain`, the `field` of a message version `event`, sealed with its owner's key and its
    /// slot's.
    pub fn seal_body(
        user_key: &Key,
        slot_key: &Key,
        event: Uuid,
        field: &str,
        plain: &[u8],
    ) -> Vec<u8> {
        aead::seal(
            &aead::body_key(user_key, slot_key),
            &binding(event, field),
            plain,
        )
    }

    /// A sealed field of `owner`'s (with `slot`, for a message version); None when it is
    /// erased (a key destroyed) or does not open (it was not sealed for this event and field).
    pub async fn unseal(
        &self,
        owner: Uuid,
        slot: Option<SlotRef>,
        (event, field): (Uuid, &str),
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, VaultError> {
        let Some(user_key) = self.keys.user_key(owner).await? else {
            return Ok(None);
        };
        let key = match slot {
            None => user_key,
            Some(slot) => match self.keys.slot_key(slot).await? {
                Some(slot_key) => aead::body_key(&user_key, &slot_key),
                None => return Ok(None),
            },
        };
        Ok(aead::open(&key, &binding(event, field), sealed))
    }
}
