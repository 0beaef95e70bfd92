//! natter-bus: everything that touches NATS.
//!
//! - [`subjects`]: every subject and stream name, derived from the namespace.
//! - [`Bus`]: the connection, the event stream, appends with idempotency and one-of-a-kind
//!   guards, durable consumers for the roles.
//! - [`RoomReplay`]: a room's missed events, read back for resume.
//! - [`BusError`]: failures with a kind, so callers can retry, nak or answer.
//!
//! Nothing else in the workspace publishes to JetStream.

pub mod batches;
mod bus;
mod error;
mod replay;
pub mod subjects;

pub use batches::{Batches, Next, ack_through, seq_of};
pub use bus::{
    Appended, Bus, ConnectionEvent, DeliveryHeaders, PREV_SEQ_HEADER, PendingAppend, SEQ_HEADER,
    StreamSettings, reconnected,
};
pub use error::{BusError, BusErrorKind};
pub use replay::{Replay, RoomReplay};
pub use subjects::Subjects;

pub use async_nats;
