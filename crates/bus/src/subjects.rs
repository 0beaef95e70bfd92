//! Subject and stream names. With namespace `chat`:
//!
//! | subject | what |
//! |---|---|
//! | `chat.ev.room.<room>.<type>` | room-scoped events (stored) |
//! | `chat.ev.user.<user>.<type>` | user-scoped events (stored) |
//! | `chat.ev.username.<name>.user.registered` | registrations, one subject per username so that "one account per username" is enforced by the log |
//! | `chat.deliver.room.<room>` | fan-out to gateways (core NATS) |
//! | `chat.deliver.user.<user>` | user-addressed notices (core NATS) |
//! | `chat.proj.<name>` | a projection's checkpoint after each commit (core NATS) |
//! | `chat.typing.room.<room>` | typing signals (core NATS, never stored) |

use natter_common::Namespace;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Subjects {
    ns: String,
}

impl Subjects {
    pub fn new(ns: &Namespace) -> Self {
        Self {
            ns: ns.as_str().to_owned(),
        }
    }

    /// The JetStream stream that holds the log.
    pub fn stream_name(&self) -> String {
        format!("{}_events", self.ns).to_uppercase()
    }

    /// The key-value bucket of the vault's keys (its stream is `KV_<bucket>`).
    pub fn key_bucket(&self) -> String {
        format!("{}_keys", self.ns).to_uppercase()
    }

    /// Every stored event.
    pub fn all_events(&self) -> String {
        format!("{}.ev.>", self.ns)
    }

    pub fn room_event(&self, room: Uuid, event_type: &str) -> String {
        format!("{}.ev.room.{room}.{event_type}", self.ns)
    }

    /// A post's or an edit's subject: the room event's, with a last `links` token when its
    /// body has web links (so that the link preview worker's consumer gets those alone, and
    /// NATS does no work for it on the rest).
    pub fn message_event(&self, room: Uuid, event_type: &str, links: bool) -> String {
        let subject = self.room_event(room, event_type);
        if links {
            format!("{subject}.links")
        } else {
            subject
        }
    }

    /// Every post and edit with web links ([`Subjects::message_event`]).
    pub fn messages_with_links(&self) -> String {
        format!("{}.ev.room.*.message.*.links", self.ns)
    }

    /// Every message event of every room (posts, edits, deletes, ..., with or without links).
    pub fn room_messages(&self) -> String {
        format!("{}.ev.room.*.message.>", self.ns)
    }

    /// Every event of one room (for replay).
    pub fn room_events(&self, room: Uuid) -> String {
        format!("{}.ev.room.{room}.>", self.ns)
    }

    /// The one subject on which a room's `room.created` may be appended.
    pub fn room_created(&self, room: Uuid) -> String {
        self.room_event(room, "room.created")
    }

    pub fn user_event(&self, user: Uuid, event_type: &str) -> String {
        format!("{}.ev.user.{user}.{event_type}", self.ns)
    }

    /// A session's own events (`session.*`): appended with the subject's last seq expected,
    /// so that each refresh happens once.
    pub fn session_event(&self, user: Uuid, session: Uuid) -> String {
        format!("{}.ev.user.{user}.session.{session}", self.ns)
    }

    /// The one subject on which a username may be registered, named by its token: natter writes
    /// a keyed hash of the name (`natter_vault::Vault::name_token`), so that subjects name no
    /// one; logs from before sealing have the name itself. Either is `[a-z0-9_-]`.
    pub fn username_claim(&self, username: &str) -> String {
        format!("{}.ev.username.{username}.user.registered", self.ns)
    }

    pub fn deliver_room(&self, room: Uuid) -> String {
        format!("{}.deliver.room.{room}", self.ns)
    }

    /// Profile changes, for every gateway (each passes them on to the sockets of the users
    /// who share a room with the changer).
    pub fn deliver_people(&self) -> String {
        format!("{}.deliver.people", self.ns)
    }

    pub fn deliver_user(&self, user: Uuid) -> String {
        format!("{}.deliver.user.{user}", self.ns)
    }

    /// Admin requests to every gateway (core NATS, request and gathered replies).
    pub fn admin(&self) -> String {
        format!("{}.admin", self.ns)
    }

    /// A user's presence changes: ephemeral, core NATS, never stored.
    pub fn presence(&self, user: Uuid) -> String {
        format!("{}.presence.{user}", self.ns)
    }

    /// Typing in a room: ephemeral, core NATS, never stored.
    pub fn typing_room(&self, room: Uuid) -> String {
        format!("{}.typing.room.{room}", self.ns)
    }

    /// Where a projection's checkpoint is announced after each commit of its own.
    pub fn checkpoint(&self, projection: &str) -> String {
        format!("{}.proj.{projection}", self.ns)
    }

    /// Where the live projector announces the checkpoints of the read models it applied
    /// together, in one message (`name=seq` pairs, space-separated).
    pub fn checkpoints_together(&self) -> String {
        format!("{}.proj.together", self.ns)
    }

    /// Every checkpoint announcement: [`Subjects::checkpoint`] and
    /// [`Subjects::checkpoints_together`].
    pub fn all_checkpoints(&self) -> String {
        format!("{}.proj.*", self.ns)
    }

    /// The prefix of every Redis key of this namespace (`<ns>:`).
    pub fn redis_prefix(&self) -> String {
        format!("{}:", self.ns)
    }

    /// The Redis sorted set of users with live sockets, by their sockets' latest expiry (ms on
    /// Redis's clock): kept by the gateways' presence, read by the push hook.
    pub fn redis_live_users(&self) -> String {
        format!("{}pres:live", self.redis_prefix())
    }

    /// The durable consumer name for a role or projection.
    pub fn consumer(&self, role: &str) -> String {
        format!("{}_{role}", self.ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_namespace() {
        let s = Subjects::new(&Namespace::new("chat").expect("ns"));
        let room = Uuid::nil();
        assert_eq!(s.stream_name(), "CHAT_EVENTS");
        assert_eq!(
            s.room_event(room, "message.posted"),
            format!("chat.ev.room.{room}.message.posted")
        );
        assert_eq!(s.deliver_room(room), format!("chat.deliver.room.{room}"));
        assert_eq!(
            s.username_claim("bob"),
            "chat.ev.username.bob.user.registered"
        );
    }
}
