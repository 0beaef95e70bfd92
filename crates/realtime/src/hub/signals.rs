//! Per-user deliveries: notices (user-addressed events), call signalling and followed users'
//! presence.

use axum::extract::ws::Utf8Bytes;
use futures::StreamExt;
use natter_bus::DeliveryHeaders;
use natter_schemas::Event;
use natter_schemas::consent::Reach;
use natter_schemas::frames::ServerFrame;

use natter_projections::history::queries;
use uuid::Uuid;

use std::sync::Arc;

use super::{Outbound, RulesIndex, Sessions, read, write};
use crate::wire::{encode, wire_event};

/// Forwards a followed user's presence frames (already encoded by the publisher) to the
/// sockets of users who may still see them (a room the followed chose, no block); a follower
/// who no longer may stops following (one query per change, for all of this gateway's
/// followers).
pub(super) async fn presence_task(
    followed: Uuid,
    mut subscriber: async_nats::Subscriber,
    sessions: Sessions,
    pool: sqlx::PgPool,
) {
    while let Some(message) = subscriber.next().await {
        let Ok(text) = std::str::from_utf8(&message.payload) else {
            continue;
        };
        let frame = Utf8Bytes::from(text);
        let mut followers: Vec<Uuid> = read(&sessions).values().map(|s| s.handle.user).collect();
        followers.sort_unstable();
        followers.dedup();
        let sharing = match queries::seeing(&pool, followed, &followers).await {
            Ok(sharing) => sharing,
            Err(e) => {
                // Not known now: nothing is shown rather than something that may not be.
                tracing::warn!(%followed, error = %e, "cannot check who may see a presence change");
                continue;
            }
        };
        let may_see = |user: Uuid| user == followed || sharing.contains(&user);
        write(&sessions).retain(|_, sub| {
            let keep = may_see(sub.handle.user);
            // A block the read model has not taken in yet holds too.
            if keep && !sub.handle.blocked.refuses(followed, Reach::See) {
                sub.handle.push(Outbound::Frame(frame.clone()));
            }
            keep
        });
    }
}

/// Forwards a user's notices, once each, in seq order. A post they are mentioned in is
/// forwarded unless it is void: when its check saw the log before the event just ahead of it,
/// the room's feed here decides when it has delivered everything before the post, else the
/// room's losses in between are read back from the log.
pub(super) async fn user_task(
    mut subscriber: async_nats::Subscriber,
    sessions: Sessions,
    bus: natter_bus::Bus,
    rules: Arc<RulesIndex>,
    urls: super::FileUrlsRef,
) {
    let mut last_seq = 0u64;
    while let Some(message) = subscriber.next().await {
        // Call signalling: checked by the sender's gateway, passed on as it is, unless the
        // user blocks the caller (a block that landed after the check).
        if DeliveryHeaders::is_frame(&message) {
            #[derive(serde::Deserialize)]
            struct From {
                from: Uuid,
            }
            let (Ok(text), Ok(From { from })) = (
                std::str::from_utf8(&message.payload),
                serde_json::from_slice::<From>(&message.payload),
            ) else {
                continue;
            };
            let frame = Utf8Bytes::from(text);
            for sub in read(&sessions).values() {
                if !sub.handle.blocked.refuses(from, Reach::Call) {
                    sub.handle.push(Outbound::Frame(frame.clone()));
                }
            }
            continue;
        }
        let Some(seq) = DeliveryHeaders::seq(&message) else {
            continue;
        };
        if seq <= last_seq {
            continue;
        }
        last_seq = seq;
        let Ok(mut event) = Event::from_bytes(&message.payload) else {
            continue;
        };
        if let Err(e) = bus.unseal(&mut event).await {
            tracing::warn!(seq, error = %e, "cannot unseal a notice; dropped");
            continue;
        }
        // Sockets of sessions this ends close (4001) before the notice reaches the others;
        // the user's blocks change what their sockets are given from now on.
        for sub in read(&sessions).values() {
            sub.handle.close_if_ended(&event);
            sub.handle.blocked.follow(&event);
        }
        let prev = DeliveryHeaders::prev_seq(&message);
        if !shown(&bus, &rules, (seq, prev), &event).await {
            continue;
        }
        let frame = encode(&ServerFrame::Notice {
            room_id: event.room_id,
            seq,
            event: wire_event(seq, &event, &*urls),
        });
        for sub in read(&sessions).values() {
            if !sub.handle.blocked.hides_notice(&event) {
                sub.handle.push(Outbound::Frame(frame.clone()));
            }
        }
    }
}

/// Whether a notice's event may be shown: anything but a void post. Undecidable (the log
/// out of reach, or too much to read back) counts as void: the notice is dropped, the message
/// itself still reaches the room's subscribers and history if it stands.
async fn shown(
    bus: &natter_bus::Bus,
    index: &RulesIndex,
    (seq, prev): (u64, Option<u64>),
    event: &Event,
) -> bool {
    let (Some((post, sender)), Some(room)) = (crate::void::post(event), event.room_id) else {
        return true;
    };
    let Some(checked) = post.checked_at.filter(|c| c + 1 < seq) else {
        return true;
    };
    let feed = index
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&room)
        .cloned();
    if let Some(void) = feed.and_then(|rules| rules.void_once_fed(sender, checked, seq, prev)) {
        return !void;
    }
    match crate::void::losses_from_log(bus, room, checked, seq - 1).await {
        Ok(losses) => !crate::void::is_void(post, sender, seq, &losses),
        Err(e) => {
            tracing::warn!(%room, seq, error = %e, "cannot tell whether a mentioning post is void; its notice is dropped");
            false
        }
    }
}
