//! The registry of entries: a room's (or user's) set of local sockets, with its one NATS
//! subscription and task, made by the first socket to join and ended by the last to leave.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use natter_bus::{Bus, BusError};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::rules::Rules;
use super::{Entry, RulesIndex, Sessions, Sub};

/// Adds `session` under `key` in `entries`. When it is the first, awaits `floor`, subscribes
/// to `subject` and starts the entry's task (whose `last_seq` starts at the floor), and files
/// its rules in the index when given one (rooms). Returns how many entries there are.
pub(super) async fn join<P, F, T>(
    bus: &Bus,
    (entries, index): (&Mutex<HashMap<Uuid, Entry>>, Option<&RulesIndex>),
    key: Uuid,
    subject: String,
    session: Sub,
    floor: P,
    task: F,
) -> Result<usize, BusError>
where
    P: std::future::Future<Output = Result<u64, BusError>>,
    F: FnOnce(async_nats::Subscriber, Sessions, Arc<AtomicU64>, Arc<Rules>) -> T,
    T: std::future::Future<Output = ()> + Send + 'static,
{
    let mut entries = entries.lock().await;
    if let Some(entry) = entries.get(&key) {
        write(&entry.sessions).insert(session.handle.id, session);
        return Ok(entries.len());
    }
    let floor = floor.await?;
    let subscriber = bus
        .client()
        .subscribe(subject)
        .await
        .map_err(BusError::unavailable)?;
    bus.flush().await?;
    let sessions: Sessions = Arc::default();
    write(&sessions).insert(session.handle.id, session);
    let last_seq = Arc::new(AtomicU64::new(floor));
    let rules = Arc::new(Rules::new(floor));
    if let Some(index) = index {
        index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, rules.clone());
    }
    let task = tokio::spawn(task(
        subscriber,
        sessions.clone(),
        last_seq.clone(),
        rules.clone(),
    ));
    entries.insert(
        key,
        Entry {
            sessions,
            last_seq,
            task,
        },
    );
    Ok(entries.len())
}

/// Removes `session` from `key`; the last one out ends the NATS subscription. Returns how many
/// entries remain.
pub(super) async fn leave(
    (entries, index): (&Mutex<HashMap<Uuid, Entry>>, Option<&RulesIndex>),
    key: Uuid,
    session: Uuid,
) -> usize {
    let mut entries = entries.lock().await;
    let empty = entries.get(&key).is_some_and(|entry| {
        let mut sessions = write(&entry.sessions);
        sessions.remove(&session);
        sessions.is_empty()
    });
    if empty {
        entries.remove(&key);
        if let Some(index) = index {
            index
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        }
    }
    entries.len()
}

pub(super) fn write(sessions: &Sessions) -> std::sync::RwLockWriteGuard<'_, HashMap<Uuid, Sub>> {
    sessions
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn read(sessions: &Sessions) -> std::sync::RwLockReadGuard<'_, HashMap<Uuid, Sub>> {
    sessions
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
