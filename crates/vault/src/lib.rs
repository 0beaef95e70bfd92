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

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use natter_bus::{Bus, BusError};
use natter_schemas::Event;
use natter_schemas::event::{personal_fields, takes_slot};
use natter_schemas::sealed::{Sealed, SlotRef};
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
    /// Opens (or, for a log that has none yet, creates) the key bucket of `bus`'s log; keys read
    /// from it are trusted for `ttl` (how long a key destroyed by another process may still be
    /// used here). A bucket the log does not record as its own is refused, and so is a
    /// missing one the log had.
    pub async fn open(
        bus: &Bus,
        keks: Keks,
        replicas: usize,
        ttl: Duration,
    ) -> Result<Self, BusError> {
        // The log records which bucket is its own: a missing one, or another log's, would make
        // everything sealed read as erased. Refused, never replaced.
        let name = format!("KV_{}", bus.subjects().key_bucket());
        let recorded = bus.recorded_key_bucket()?;
        let found = bus.key_bucket_epoch().await?;
        match (&recorded, &found) {
            (Some(recorded), None) => {
                return Err(BusError::other(format!(
                    "this log's key bucket {name} (made at {recorded}) is missing: restore it from a backup. Without it nothing sealed in this log can be read, so natter does not start with a new one"
                )));
            }
            (Some(recorded), Some(found)) if recorded != found => {
                return Err(BusError::other(format!(
                    "{name} is not this log's key bucket: it was made at {found}, the log's at {recorded}. Restore the log's own bucket"
                )));
            }
            _ => {}
        }
        let bucket = bus.key_bucket(replicas).await?;
        if recorded.is_none()
            && let Some(epoch) = bus.key_bucket_epoch().await?
        {
            bus.record_key_bucket(&epoch).await?;
        }
        let keys = Arc::new(Keys::new(bucket, keks, ttl));
        let slots = SlotPool::new(keys.clone());
        let vault = Self { keys, slots };
        // Every event read through this bus is unsealed from now on.
        bus.set_unsealer(Arc::new(vault.clone()));
        Ok(vault)
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn slots(&self) -> &Arc<SlotPool> {
        &self.slots
    }

    /// The token a username is known by in the log's subjects: a keyed hash (32 hex digits),
    /// so that the log's subjects do not name anyone, and a name can still be claimed once.
    pub async fn name_token(&self, username: &str) -> Result<String, VaultError> {
        let key = self.keys.naming_key().await?;
        let hk = hkdf::Hkdf::<sha2::Sha256>::from_prk(key.as_ref())
            .map_err(|_| VaultError::Bus(BusError::other("the naming key is too short")))?;
        let mut out = [0u8; 16];
        let _ = hk.expand(username.as_bytes(), &mut out);
        Ok(out.iter().map(|b| format!("{b:02x}")).collect())
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

    /// Seals `event`'s personal data ([`personal_fields`]) with its actor's key (made on
    /// their first sealed event) and, for a message version, a slot of its own; those fields
    /// are blank in `data` from then on. Events without personal data are left as they are.
    pub async fn seal_event(&self, event: &mut Event) -> Result<(), VaultError> {
        if personal_fields(&mut event.body).is_empty() {
            return Ok(());
        }
        let owner = event.actor_id;
        let user_key = self.keys.ensure_user_key(owner).await?;
        let (slot, key) = if takes_slot(&event.body) {
            let (slot, slot_key) = self.slots.take_or_reserve().await?;
            (Some(slot), aead::body_key(&user_key, &slot_key))
        } else {
            (None, user_key)
        };
        let id = event.id;
        let mut fields = std::collections::BTreeMap::new();
        for (name, value) in personal_fields(&mut event.body) {
            let sealed = aead::seal(&key, &binding(id, &name), value.as_bytes());
            value.clear();
            fields.insert(name, B64.encode(sealed));
        }
        event.sealed = Some(Sealed {
            owner,
            slot,
            fields,
        });
        Ok(())
    }

    /// Puts `event`'s sealed personal data back in place. A field whose key is gone stays
    /// blank and marks the event `erased`. Events sealed with nothing, or unsealed already,
    /// are left as they are.
    pub async fn unseal_event(&self, event: &mut Event) -> Result<(), VaultError> {
        let Some(sealed) = event.sealed.take() else {
            return Ok(());
        };
        if sealed.fields.is_empty() {
            // Unsealed already.
            event.sealed = Some(sealed);
            return Ok(());
        }
        let key = match (self.keys.user_key(sealed.owner).await?, sealed.slot) {
            (None, _) => None,
            (Some(user_key), None) => Some(user_key),
            (Some(user_key), Some(slot)) => self
                .keys
                .slot_key(slot)
                .await?
                .map(|slot_key| aead::body_key(&user_key, &slot_key)),
        };
        let id = event.id;
        let mut erased = false;
        for (name, value) in personal_fields(&mut event.body) {
            let Some(text) = sealed.fields.get(&name) else {
                continue;
            };
            let plain = key.as_ref().and_then(|key| {
                let bytes = B64.decode(text).ok()?;
                String::from_utf8(aead::open(key, &binding(id, &name), &bytes)?).ok()
            });
            match plain {
                Some(plain) => *value = plain,
                None => {
                    value.clear();
                    erased = true;
                }
            }
        }
        event.erased = erased;
        // Who sealed it and with which slot stay known (deleting a message destroys its
        // slots); the ciphertexts go.
        event.sealed = Some(Sealed {
            fields: std::collections::BTreeMap::new(),
            ..sealed
        });
        Ok(())
    }

    /// [`Vault::unseal_event`] for each of `events`.
    pub async fn unseal_all(&self, events: &mut [(u64, Event)]) -> Result<(), VaultError> {
        for (_, event) in events {
            self.unseal_event(event).await?;
        }
        Ok(())
    }
}

impl natter_bus::Unseal for Vault {
    fn unseal<'a>(
        &'a self,
        event: &'a mut Event,
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.unseal_event(event).await.map_err(|e| e.to_string()) })
    }
}
