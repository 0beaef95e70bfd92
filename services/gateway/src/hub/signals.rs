//! Per-user deliveries: notices (user-addressed events) and followed users' presence.

use axum::extract::ws::Utf8Bytes;
use futures::StreamExt;
use natter_bus::DeliveryHeaders;
use natter_schemas::Event;
use natter_schemas::frames::ServerFrame;

use super::{Outbound, Sessions, read};
use crate::wire::{encode, wire_event};

/// Forwards a followed user's presence frames (already encoded by the publisher).
pub(super) async fn presence_task(mut subscriber: async_nats::Subscriber, sessions: Sessions) {
    while let Some(message) = subscriber.next().await {
        let Ok(text) = std::str::from_utf8(&message.payload) else {
            continue;
        };
        let frame = Utf8Bytes::from(text);
        for sub in read(&sessions).values() {
            sub.handle.push(Outbound::Frame(frame.clone()));
        }
    }
}

/// Forwards a user's notices, once each, in seq order.
pub(super) async fn user_task(mut subscriber: async_nats::Subscriber, sessions: Sessions) {
    let mut last_seq = 0u64;
    while let Some(message) = subscriber.next().await {
        let Some(seq) = DeliveryHeaders::seq(&message) else {
            continue;
        };
        if seq <= last_seq {
            continue;
        }
        last_seq = seq;
        let Ok(event) = Event::from_bytes(&message.payload) else {
            continue;
        };
        let frame = encode(&ServerFrame::Notice {
            room_id: event.room_id,
            seq,
            event: wire_event(seq, &event),
        });
        for sub in read(&sessions).values() {
            sub.handle.push(Outbound::Frame(frame.clone()));
        }
    }
}
