//! The keys in the bucket, wrapped: one per user (`u.<user>`) and one block of slot keys per
//! reservation (`b.<block>`); read through a cache that forgets after a bound (and at once
//! when this process destroys a key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_bus::{BusError, BusErrorKind, KeyBucket};
use natter_schemas::sealed::{SLOTS_PER_BLOCK, SlotRef};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::aead::{Key, random_key};
use crate::kek::Keks;

/// Most entries cached per kind; past it the cache starts over.
const CACHED: usize = 100_000;

/// Bytes of one slot key in a block.
const SLOT: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The bucket holds it, but no key-encryption key here opens it.
    #[error("{0} is wrapped by a key-encryption key this process does not have")]
    Unwrappable(String),
}

/// A block of slot keys, as reserved (every slot still there).
pub struct Block {
    pub id: Uuid,
    keys: Zeroizing<Vec<u8>>,
}

impl Block {
    pub fn slot_key(&self, index: u16) -> Option<Key> {
        let at = usize::from(index) * SLOT;
        let bytes: [u8; SLOT] = self.keys.get(at..at + SLOT)?.try_into().ok()?;
        // A destroyed slot is zeros.
        (bytes != [0u8; SLOT]).then(|| Zeroizing::new(bytes))
    }
}

type Cached<T> = Mutex<HashMap<Uuid, (Option<T>, Instant)>>;

/// The bucket's keys, unwrapped as they are needed.
pub struct Keys {
    bucket: KeyBucket,
    keks: Keks,
    /// How long a key read from the bucket is trusted (a key destroyed by another process is
    /// still used here for at most this long).
    ttl: Duration,
    users: Cached<Key>,
    blocks: Cached<Arc<Block>>,
    /// The key usernames are hashed with in subjects (never destroyed).
    naming: tokio::sync::OnceCell<Key>,
}

/// A stored key's bytes as a key (32 bytes, or the value is not one of ours).
fn key_of(name: &str, plain: &[u8]) -> Result<Key, VaultError> {
    let bytes: [u8; 32] = plain
        .try_into()
        .map_err(|_| VaultError::Unwrappable(name.to_owned()))?;
    Ok(Zeroizing::new(bytes))
}

fn user_name(user: Uuid) -> String {
    format!("u.{user}")
}

fn block_name(block: Uuid) -> String {
    format!("b.{block}")
}

impl Keys {
    pub fn new(bucket: KeyBucket, keks: Keks, ttl: Duration) -> Self {
        Self {
            bucket,
            keks,
            ttl,
            users: Mutex::default(),
            blocks: Mutex::default(),
            naming: tokio::sync::OnceCell::new(),
        }
    }

    fn cached<T: Clone>(&self, cache: &Cached<T>, id: Uuid) -> Option<Option<T>> {
        let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let (value, at) = cache.get(&id)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    fn remember<T>(cache: &Cached<T>, id: Uuid, value: Option<T>) {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(id, (value, Instant::now()));
    }

    /// Reads and unwraps `name`: None when the bucket has nothing under it.
    async fn read(&self, name: &str) -> Result<Option<(Zeroizing<Vec<u8>>, u64)>, VaultError> {
        let Some((wrapped, revision)) = self.bucket.get(name).await? else {
            return Ok(None);
        };
        let (plain, _) = self
            .keks
            .unwrap(name, &wrapped)
            .ok_or_else(|| VaultError::Unwrappable(name.to_owned()))?;
        Ok(Some((plain, revision)))
    }

    /// `user`'s key; None once it is destroyed (or was never made).
    pub async fn user_key(&self, user: Uuid) -> Result<Option<Key>, VaultError> {
        if let Some(known) = self.cached(&self.users, user) {
            return Ok(known);
        }
        let key = self.read(&user_name(user)).await?.and_then(|(plain, _)| {
            let bytes: [u8; 32] = plain.as_slice().try_into().ok()?;
            Some(Zeroizing::new(bytes))
        });
        Self::remember(&self.users, user, key.clone());
        Ok(key)
    }

    /// `user`'s key, made (and stored) if they have none yet.
    ///
    /// Sealing takes the key from memory however long ago it was read, so that a send costs no
    /// round trip: a key destroyed meanwhile seals what nobody can read any more, which is
    /// what its destruction means anyway. Reading ([`Keys::user_key`]) is what the cache's
    /// bound is for.
    pub async fn ensure_user_key(&self, user: Uuid) -> Result<Key, VaultError> {
        let known = self
            .users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user)
            .and_then(|(key, _)| key.clone());
        if let Some(key) = known {
            return Ok(key);
        }
        if let Some(key) = self.user_key(user).await? {
            return Ok(key);
        }
        let key = random_key();
        let name = user_name(user);
        let wrapped = Bytes::from(self.keks.wrap(&name, key.as_ref()));
        match self.bucket.create(&name, wrapped).await {
            Ok(_) => {
                Self::remember(&self.users, user, Some(key.clone()));
                Ok(key)
            }
            // Made meanwhile elsewhere: that one is the key.
            Err(e) if e.kind == BusErrorKind::Conflict => {
                self.users
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&user);
                match self.user_key(user).await? {
                    Some(key) => Ok(key),
                    None => Err(VaultError::Bus(BusError::other(format!(
                        "{name} vanished while it was made"
                    )))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Destroys `user`'s key: everything sealed with it reads as erased from now on.
    pub async fn destroy_user(&self, user: Uuid) -> Result<(), VaultError> {
        self.bucket.purge(&user_name(user)).await?;
        Self::remember(&self.users, user, None);
        Ok(())
    }

    /// Forgets what is cached of `user`'s key (it was destroyed elsewhere).
    pub fn forget_user(&self, user: Uuid) {
        Self::remember(&self.users, user, None);
    }

    /// The key usernames are hashed with, made (and stored) the first time it is needed.
    pub async fn naming_key(&self) -> Result<Key, VaultError> {
        const NAME: &str = "n.usernames";
        self.naming
            .get_or_try_init(|| async {
                if let Some((plain, _)) = self.read(NAME).await? {
                    return key_of(NAME, &plain);
                }
                let key = random_key();
                let wrapped = Bytes::from(self.keks.wrap(NAME, key.as_ref()));
                match self.bucket.create(NAME, wrapped).await {
                    Ok(_) => Ok(key),
                    Err(e) if e.kind == BusErrorKind::Conflict => {
                        let (plain, _) = self.read(NAME).await?.ok_or_else(|| {
                            VaultError::Bus(BusError::other("the naming key vanished"))
                        })?;
                        key_of(NAME, &plain)
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await
            .cloned()
    }

    /// Stores a new block of random slot keys; its slots may be used once this returns.
    pub async fn reserve_block(&self) -> Result<Arc<Block>, VaultError> {
        let id = Uuid::now_v7();
        let mut keys = Zeroizing::new(Vec::with_capacity(usize::from(SLOTS_PER_BLOCK) * SLOT));
        for _ in 0..SLOTS_PER_BLOCK {
            keys.extend_from_slice(random_key().as_ref());
        }
        let name = block_name(id);
        let wrapped = Bytes::from(self.keks.wrap(&name, &keys));
        self.bucket.create(&name, wrapped).await?;
        let block = Arc::new(Block { id, keys });
        Self::remember(&self.blocks, id, Some(block.clone()));
        Ok(block)
    }

    /// A slot's key; None once the slot (or its block) is destroyed.
    pub async fn slot_key(&self, slot: SlotRef) -> Result<Option<Key>, VaultError> {
        let block = match self.cached(&self.blocks, slot.block) {
            Some(block) => block,
            None => {
                let block = self.read(&block_name(slot.block)).await?.map(|(keys, _)| {
                    Arc::new(Block {
                        id: slot.block,
                        keys,
                    })
                });
                Self::remember(&self.blocks, slot.block, block.clone());
                block
            }
        };
        Ok(block.and_then(|b| b.slot_key(slot.index)))
    }

    /// Destroys `slots` (zeroing each in its block; a block is rewritten only if nothing
    /// changed it since it was read, else read again).
    pub async fn destroy_slots(&self, slots: &[SlotRef]) -> Result<(), VaultError> {
        let mut by_block: HashMap<Uuid, Vec<u16>> = HashMap::new();
        for slot in slots {
            by_block.entry(slot.block).or_default().push(slot.index);
        }
        for (block, indexes) in by_block {
            let name = block_name(block);
            loop {
                let Some((mut keys, revision)) = self.read(&name).await? else {
                    break;
                };
                for index in &indexes {
                    let at = usize::from(*index) * SLOT;
                    if let Some(slot) = keys.get_mut(at..at + SLOT) {
                        slot.fill(0);
                    }
                }
                let wrapped = Bytes::from(self.keks.wrap(&name, &keys));
                match self.bucket.update(&name, wrapped, revision).await {
                    Ok(_) => {
                        let block = Arc::new(Block { id: block, keys });
                        Self::remember(&self.blocks, block.id, Some(block));
                        break;
                    }
                    Err(e) if e.kind == BusErrorKind::Conflict => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Rewraps every key the bucket holds with the current key-encryption key (a rotation);
    /// how many were rewrapped.
    pub async fn rewrap_all(&self) -> Result<usize, VaultError> {
        let mut rewrapped = 0;
        for name in self.bucket.keys().await? {
            loop {
                let Some((wrapped, revision)) = self.bucket.get(&name).await? else {
                    break;
                };
                let (plain, by) = self
                    .keks
                    .unwrap(&name, &wrapped)
                    .ok_or_else(|| VaultError::Unwrappable(name.clone()))?;
                if by == self.keks.current() {
                    break;
                }
                let again = Bytes::from(self.keks.wrap(&name, &plain));
                match self.bucket.update(&name, again, revision).await {
                    Ok(_) => {
                        rewrapped += 1;
                        break;
                    }
                    Err(e) if e.kind == BusErrorKind::Conflict => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(rewrapped)
    }
}
