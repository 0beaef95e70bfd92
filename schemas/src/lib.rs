//! natter-schemas: the shapes every other crate and every client agrees on.
//!
//! No runtime here (no tokio, sqlx or async-nats): just data types, their JSON form, the event
//! upcasters and the JSON Schema export.
//!
//! - [`event`]: the event envelope and event types stored in the log.
//! - [`upcast`]: older event versions to the current shape.
//! - [`model`]: API objects (users, rooms, members, messages).
//! - [`frames`]: WebSocket frames.
//! - [`rest`]: REST bodies.
//! - [`files`]: file events, and attachments as messages carry them.
//! - [`text`]: how a body is written (plain or Markdown) and what readers derive from it.
//! - [`previews`]: link previews, as the log keeps them and clients see them.
//! - [`calls`]: call signalling frames' actions, call summaries, ICE servers.
//! - [`keys`]: end-to-end encryption: encrypted payloads, the device key directory.
//! - [`people`]: blocking, and whether strangers' direct conversations wait for acceptance.
//! - [`sealed`]: personal data sealed in events (what can be forgotten).
//! - [`sessions`]: sign-ins, refresh tokens, password changes.
//! - [`ids`]: deterministic ids (messages, direct conversations).
//! - [`error`]: error codes and the error body.
//! - [`export`]: JSON Schema files for `schemas/json/`.

pub mod calls;
pub mod consent;
pub mod error;
pub mod event;
pub mod export;
pub mod files;
pub mod frames;
pub mod ids;
pub mod keys;
pub mod model;
pub mod people;
pub mod posting;
pub mod previews;
pub mod rest;
pub mod sealed;
pub mod sessions;
pub mod text;
pub mod upcast;
pub mod wire;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use event::{Event, EventBody};
