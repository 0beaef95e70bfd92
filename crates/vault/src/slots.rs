//! Slots handed out without a round trip: a process takes slots from a block it has already
//! stored, and stores the next block while the current one is still being used.
//!
//! Why a crash cannot make an acked message unreadable: a slot is handed out only from a
//! block whose creation the bucket acknowledged, so the key of every message sealed with it is
//! stored before the message is even sent to the log. A crash loses only slots not handed out
//! yet (their blocks hold keys nothing uses). No two processes share a block (each reserves its
//! own, under a fresh id), so no slot is used twice.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use natter_bus::BusError;

use natter_schemas::sealed::{SLOTS_PER_BLOCK, SlotRef};

use crate::aead::Key;
use crate::keys::{Block, Keys, VaultError};

struct Current {
    block: Arc<Block>,
    next: u16,
}

/// The slots this process hands out.
pub struct SlotPool {
    keys: Arc<Keys>,
    current: Mutex<Option<Current>>,
    /// The next block, stored ahead of need.
    spare: Mutex<Option<Arc<Block>>>,
    refilling: tokio::sync::Mutex<()>,
    /// When the last reservation failed, and why: those who waited for it hear the same,
    /// rather than each trying again in turn (one bucket timeout after another).
    failed: Mutex<Option<(Instant, BusError)>>,
}

impl SlotPool {
    pub fn new(keys: Arc<Keys>) -> Arc<Self> {
        Arc::new(Self {
            keys,
            current: Mutex::default(),
            spare: Mutex::default(),
            refilling: tokio::sync::Mutex::new(()),
            failed: Mutex::default(),
        })
    }

    /// A slot and its key, without waiting: None when no stored block has one left (then
    /// [`SlotPool::take_or_reserve`]).
    pub fn take(self: &Arc<Self>) -> Option<(SlotRef, Key)> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_none_or(|c| c.next >= SLOTS_PER_BLOCK) {
            *current = self
                .spare
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .map(|block| Current { block, next: 0 });
            // The spare is in use: store the next one in the background.
            self.refill();
        }
        let c = current.as_mut()?;
        let index = c.next;
        c.next += 1;
        let key = c.block.slot_key(index)?;
        Some((
            SlotRef {
                block: c.block.id,
                index,
            },
            key,
        ))
    }

    /// A slot and its key, storing a block first when none is left (a round trip to the
    /// bucket, once per [`SLOTS_PER_BLOCK`] slots at worst).
    pub async fn take_or_reserve(self: &Arc<Self>) -> Result<(SlotRef, Key), VaultError> {
        loop {
            if let Some(slot) = self.take() {
                return Ok(slot);
            }
            self.fill_spare().await?;
        }
    }

    /// Stores a spare block unless there is one.
    /// A caller that waited for a reservation that failed hears its failure: one
    /// reservation is tried at a time, and every send waiting meanwhile shares its outcome.
    pub async fn fill_spare(&self) -> Result<(), VaultError> {
        let asked = Instant::now();
        let _one_at_a_time = self.refilling.lock().await;
        if self
            .spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Ok(());
        }
        if let Some((at, why)) = &*self.failed.lock().unwrap_or_else(|e| e.into_inner())
            && *at >= asked
        {
            return Err(why.clone().into());
        }
        match self.keys.reserve_block().await {
            Ok(block) => {
                *self.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some(block);
                Ok(())
            }
            Err(e) => {
                if let VaultError::Bus(why) = &e {
                    *self.failed.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((Instant::now(), why.clone()));
                }
                Err(e)
            }
        }
    }

    fn refill(self: &Arc<Self>) {
        let this = self.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = this.fill_spare().await {
                    tracing::warn!(error = %e, "cannot reserve the next block of slots");
                }
            });
        }
    }
}
