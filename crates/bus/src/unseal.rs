//! Unsealing on read: a process that holds the keys (a vault, `natter-vault`) registers itself
//! on its [`Bus`], and every reader of the log that goes through the bus (projections,
//! deliveries, resumes, workers) puts the events' personal data back in place, or marks it
//! erased when its key is gone. Without one, events stay sealed.

use std::sync::Arc;

use futures::future::BoxFuture;
use natter_schemas::Event;

use crate::Bus;

/// What unseals events.
pub trait Unseal: Send + Sync {
    /// Unseals `event` in place; an error is a key that cannot be read now (the bucket
    /// unreachable), never an erased one.
    fn unseal<'a>(&'a self, event: &'a mut Event) -> BoxFuture<'a, Result<(), String>>;
}

impl Bus {
    /// Unseals every event read through this bus from now on.
    pub fn set_unsealer(&self, unsealer: Arc<dyn Unseal>) {
        let _ = self.unsealer.set(unsealer);
    }

    /// The unsealer, when one is set.
    pub fn unsealer(&self) -> Option<Arc<dyn Unseal>> {
        self.unsealer.get().cloned()
    }

    /// Unseals `event` in place when an unsealer is set.
    pub async fn unseal(&self, event: &mut Event) -> Result<(), String> {
        match self.unsealer.get() {
            Some(unsealer) if event.sealed.as_ref().is_some_and(|s| !s.fields.is_empty()) => {
                unsealer.unseal(event).await
            }
            _ => Ok(()),
        }
    }

    /// Unseals `events` in place when an unsealer is set.
    pub async fn unseal_all(&self, events: &mut [(u64, Event)]) -> Result<(), String> {
        for (_, event) in events {
            self.unseal(event).await?;
        }
        Ok(())
    }
}
