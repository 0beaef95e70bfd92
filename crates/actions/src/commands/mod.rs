//! The write paths, shared by REST and WebSocket: validate against the read models, append an
//! event, and (for writes that answer with the new state) wait until the read model has it.
//!
//! Crash and retry, per path:
//! - Registration and room creation append on a subject that may hold one event only
//!   (expected-last-subject-sequence 0): a retry after a crash is `conflict`, never a second
//!   account or room. A DM is a room whose id derives from its members, so opening one twice
//!   (even concurrently, on two gateways) answers the same room.
//! - A send derives its message id from (sender, client_msg_id) and appends with
//!   `Nats-Msg-Id = <sender>:<client_msg_id>`: a retry inside JetStream's dedupe window is
//!   answered from the log, a later one from the read model; the history projection keys
//!   messages by that id, so a retry is stored once either way.
//! - Sessions: see [`sessions`].
//! - Membership and profile changes are idempotent facts (joining twice is answered without a
//!   second event).
//! - Changes to messages: see [`messages`]. Read positions only move forward: a repeated
//!   `read` appends nothing, and a repeated event moves nothing.
//!
//! Layout: [`access`] (who may do what in a room), [`consent`] (who may reach whom),
//! [`account`], [`people`], [`keys`], [`files`], [`rooms`], [`members`], [`send`], [`messages`]
//! (changes to posted messages), [`reading`], [`sessions`] (sign-ins), [`erasure`].

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::text;
use uuid::Uuid;

use crate::Actions;

mod access;
mod account;
pub(crate) mod consent;
pub mod erasure;
pub mod files;
pub mod keys;
mod members;
pub mod messages;
pub mod people;
pub mod reading;
mod rooms;
mod send;
pub mod sessions;

/// The subject an event of `room` is appended on: posts and edits whose body has web links
/// are marked, for the link preview worker (see [`natter_bus::Subjects::message_event`]).
pub(crate) fn room_subject(state: &Actions, room: Uuid, event: &Event) -> String {
    let links = match &event.body {
        EventBody::MessagePosted(p) => !text::links(&p.body, p.format, 1).is_empty(),
        EventBody::MessageEdited(e) => !text::links(&e.body, e.format, 1).is_empty(),
        _ => false,
    };
    state
        .bus()
        .subjects()
        .message_event(room, event.type_name(), links)
}

pub use access::*;
pub use account::*;
pub use members::*;
pub use rooms::*;
pub use send::*;
pub use sessions::start_session;
