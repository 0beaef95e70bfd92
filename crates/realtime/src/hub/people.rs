//! Profile changes and erasures, passed on live: one subscription per gateway to every one,
//! each sent as a `notice` to the sockets here of the changer and of the users who share a
//! room with them (one query per change), so that clients show new names and avatars at once
//! (and an erased user as gone: to the members of the rooms the erasure names). An erasure
//! also drops this gateway's cached key of the user.

use futures::StreamExt;
use natter_bus::DeliveryHeaders;
use natter_projections::history::queries;
use natter_schemas::Event;
use natter_schemas::frames::ServerFrame;
use uuid::Uuid;

use super::{Hub, Outbound, read};
use crate::wire::{encode, wire_event};

/// How long a failed subscription waits before it tries again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

impl Hub {
    /// `event`, one of `user`'s own that changes whom they block, applied at once to their
    /// sockets here (the gateway that took it; the others follow it from the user's notices,
    /// in log order): what was appended before the block and is delivered after it is kept
    /// from them too.
    pub async fn blocks_changed(&self, user: Uuid, event: &Event) {
        if let Some(entry) = self.0.users.lock().await.get(&user) {
            for sub in read(&entry.sessions).values() {
                sub.handle.blocked.follow(event);
            }
        }
    }

    /// Passes profile changes on until `shutdown`. Its owner (the gateway, through the
    /// state's background tasks) spawns and joins it.
    pub async fn deliver_profiles(self, shutdown: natter_common::Shutdown) {
        let subject = self.0.bus.subjects().deliver_people();
        let mut subscriber = loop {
            match self.0.bus.client().subscribe(subject.clone()).await {
                Ok(subscriber) => break subscriber,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to profile changes; retrying");
                    tokio::select! {
                        () = shutdown.wait() => return,
                        () = tokio::time::sleep(RETRY) => {}
                    }
                }
            }
        };
        loop {
            let message = tokio::select! {
                () = shutdown.wait() => break,
                message = subscriber.next() => message,
            };
            let Some(message) = message else { break };
            let (Some(seq), Ok(mut event)) = (
                DeliveryHeaders::seq(&message),
                Event::from_bytes(&message.payload),
            ) else {
                continue;
            };
            if let Err(e) = self.0.bus.unseal(&mut event).await {
                tracing::warn!(seq, error = %e, "cannot unseal a profile change; not passed on");
                continue;
            }
            self.profile_changed(seq, &event).await;
        }
    }

    async fn profile_changed(&self, seq: u64, event: &Event) {
        if let natter_schemas::EventBody::UserErased(e) = &event.body {
            // Nothing of theirs is unsealed here from now on, cached or not.
            self.0.vault.keys().forget_user(e.user_id);
        }
        let here: Vec<Uuid> = self.0.users.lock().await.keys().copied().collect();
        if here.is_empty() {
            return;
        }
        let pool = &self.0.pool;
        let (changer, sharing) = match &event.body {
            // Those who shared a room with an erased user are named by the rooms the event
            // carries: the read models may have dropped the memberships already.
            natter_schemas::EventBody::UserErased(e) => (
                e.user_id,
                queries::members_of_any(pool, &e.rooms, &here).await,
            ),
            _ => (
                event.actor_id,
                queries::seeing(pool, event.actor_id, &here).await,
            ),
        };
        let mut told = match sharing {
            Ok(sharing) => sharing,
            Err(e) => {
                // Not known now: the change shows at the next reload rather than to someone
                // who may not see it.
                tracing::warn!(%changer, error = %e, "cannot tell who sees a profile change");
                vec![changer]
            }
        };
        told.push(changer);
        told.sort_unstable();
        told.dedup();
        let frame = encode(&ServerFrame::Notice {
            room_id: None,
            seq,
            event: wire_event(seq, event, &*self.0.urls),
        });
        let users = self.0.users.lock().await;
        for user in told {
            if let Some(entry) = users.get(&user) {
                // A block the read model has not taken in yet holds too.
                for sub in read(&entry.sessions).values() {
                    if !sub.handle.blocked.hides_notice(event) {
                        sub.handle.push(Outbound::Frame(frame.clone()));
                    }
                }
            }
        }
    }
}
