//! natter-bus: everything that touches NATS.
//!
//! - [`subjects`]: every subject and stream name, derived from the namespace.
//! - [`Bus`]: the connection (where NATS is and how natter proves who it is: `servers`);
//!   the log itself, made when missing, its identity and reads by seq in `log`, its standing
//!   (lost, full) watched in `watch`; appends with idempotency and one-of-a-kind guards in
//!   `append`; the roles' durable consumers in `consumers`; ordered readers that survive a
//!   node's loss ([`Reader`]) in `reader`; waiting out a cluster's trouble in `recovery`; the
//!   connection's ups and downs ([`ConnectionEvent`]) in `connection`.
//! - [`RoomReplay`]: a room's missed events, read back for resume.
//! - [`Unseal`]: events' personal data put back in place as they are read, by a vault.
//! - [`KeyBucket`]: the key-value bucket beside the log that holds the vault's wrapped keys.
//! - [`BusError`]: failures with a kind, so callers can retry, nak or answer.
//! - [`WorkerConsumer`]: a worker's loop over its durable consumer, acked batch by batch.
//!
//! Nothing else in the workspace publishes to JetStream (or its key-value buckets).

mod append;
pub mod batches;
mod bus;
mod connection;
mod consumers;
mod error;
mod keys;
mod log;
mod pipeline;
mod reader;
mod recovery;
mod replay;
mod servers;
pub mod subjects;
mod unseal;
mod watch;
mod worker;

pub use append::{Appended, PendingAppend};
pub use batches::{Batches, Next, ack_through, seq_of};
pub use bus::{Bus, DeliveryHeaders, FRAME_HEADER, PREV_SEQ_HEADER, SEQ_HEADER};
pub use connection::{ConnectionEvent, reconnected};
pub use error::{BusError, BusErrorKind};
pub use keys::KeyBucket;
pub use log::StreamSettings;
pub use pipeline::Fair;
pub use reader::Reader;
pub use recovery::{RECOVERY_BOUND, RESEND_BOUND, dedupe_margin, within, within_bound};
pub use replay::{Replay, RoomReplay};
pub use servers::server_list;
pub use subjects::Subjects;
pub use unseal::Unseal;
pub use watch::Standing;
pub use worker::WorkerConsumer;

pub use async_nats;
