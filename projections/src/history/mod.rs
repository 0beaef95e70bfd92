//! The history read model: users, rooms, members with roles, messages with their threads, edit
//! history, reactions and pins.
//!
//! [`History`] applies events (this file): the bulk of a log (messages, edits, deletes,
//! reactions) a stretch at a time in [`bulk`], everything else one event at a time in
//! [`one`]; [`queries`] reads them for the gateway.

mod bulk;
mod calls;
mod directory;
pub(crate) mod files;
mod keys;
mod one;
mod people;
pub(crate) mod previews;
pub mod queries;
mod sessions;
mod slots;

use bulk::{Segment, apply_bulk, segments};
use one::apply_one;

use natter_schemas::Event;

use sqlx::PgConnection;

use crate::{Projection, raise_room_heads};

/// The history projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct History;

impl History {
    pub const NAME: &'static str = "history";
}

impl Projection for History {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn deferred_indexes(&self) -> &'static [&'static str] {
        &[
            "members_by_user",
            "rooms_public",
            "messages_room_seq",
            "messages_thread",
        ]
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "users",
            "user_name_keys",
            "sessions",
            "blocks",
            "room_mutes",
            "pending_erasures",
            "message_slots",
            "pending_slot_erasures",
            "files",
            "calls",
            "device_keys",
            "rooms",
            "members",
            "messages",
            "message_edits",
            "reactions",
            "pins",
            "bans",
            "mutes",
            "history_posting_losses",
        ]
    }

    fn queues(&self) -> &'static [&'static str] {
        // The projector's reaper drains it.
        &["pending_erasures", "pending_slot_erasures"]
    }

    async fn after_partitioned(&self, pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
        // A file's upload is a user's event, the post carrying it a room's.
        let mut conn = pool.acquire().await?;
        files::mark_carried_files(&mut conn).await
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[(u64, Event)],
    ) -> Result<(), sqlx::Error> {
        // The bulk of a log (messages, edits, deletes, reactions, reads) is applied a
        // stretch at a time, a few set-based statements per stretch; everything else (rooms,
        // members, pins, ...) one event at a time, in log order. Each room's `last_seq` is
        // raised once per batch (with its posts, when they are the room's newest events).
        let mut raised = std::collections::HashMap::new();
        for segment in segments(events) {
            match segment {
                Segment::Bulk(stretch) => raised.extend(apply_bulk(conn, stretch).await?),
                Segment::One(seq, event) => {
                    apply_one(conn, seq, event).await?;
                    crate::losses::record(conn, "history_posting_losses", seq, event).await?;
                }
            }
        }
        raise_room_heads(conn, "rooms", "id", events, &raised).await
    }
}

/// Most pinned messages per room.
pub const MAX_PINS: i64 = 50;
