//! Delivery receipts: each socket tells how far it has received a room's events
//! (`delivered`, cumulative, batched by the client); each gateway keeps the furthest position
//! per room and member, and appends what it was told once per interval and room, as one
//! `delivered.updated` event: the log grows by one event per busy room and interval, not one
//! per delivery.
//!
//! Crash: positions not flushed yet are lost. They are positions, not messages: the next
//! `delivered` of the socket (after its resume) covers them, and positions never move back.
//! A drain flushes before the gateway stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natter_schemas::Event;
use natter_schemas::event::{DeliveredPosition, DeliveredUpdated, EventBody};
use uuid::Uuid;

use natter_bus::Bus;

/// Positions told since the last flush, by room and member (a handle: clones share them).
#[derive(Default, Clone)]
pub struct Delivered {
    pending: Arc<Mutex<HashMap<Uuid, HashMap<Uuid, u64>>>>,
}

impl Delivered {
    /// `user` has received `room`'s events up to `seq`.
    pub fn record(&self, room: Uuid, user: Uuid, seq: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let furthest = pending.entry(room).or_default().entry(user).or_insert(0);
        *furthest = (*furthest).max(seq);
    }

    fn take(&self) -> HashMap<Uuid, HashMap<Uuid, u64>> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Flushes every `every` until `shutdown`, and once more then. Its owner (the gateway,
/// through the state's background tasks) spawns and joins it.
pub async fn flush_delivered(
    delivered: Delivered,
    bus: Bus,
    every: Duration,
    shutdown: natter_common::Shutdown,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            () = shutdown.wait() => true,
            _ = tick.tick() => false,
        };
        flush(&delivered, &bus).await;
        if stopping {
            break;
        }
    }
}

/// Appends one `delivered.updated` per room told anything (pipelined); a failed append is
/// logged and its positions dropped (the clients' next `delivered` carries them again).
async fn flush(delivered: &Delivered, bus: &Bus) {
    let rooms = delivered.take();
    let mut acks = Vec::with_capacity(rooms.len());
    for (room, members) in rooms {
        let mut positions: Vec<DeliveredPosition> = members
            .into_iter()
            .map(|(user_id, seq)| DeliveredPosition { user_id, seq })
            .collect();
        positions.sort_by_key(|p| p.user_id);
        let event = Event::new(
            Uuid::nil(),
            Some(room),
            EventBody::DeliveredUpdated(DeliveredUpdated { positions }),
        );
        let subject = bus.subjects().room_event(room, event.type_name());
        match bus.append_pipelined(subject, &event, None, false).await {
            Ok(ack) => acks.push((room, ack)),
            Err(e) => tracing::warn!(%room, error = %e, "cannot record delivery receipts"),
        }
    }
    for (room, ack) in acks {
        if let Err(e) = ack.await {
            tracing::warn!(%room, error = %e, "cannot record delivery receipts");
        }
    }
}
