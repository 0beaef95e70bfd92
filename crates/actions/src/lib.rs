//! natter-actions: what each chat action means, apart from how it arrives. REST and
//! WebSocket call the same functions here; they check who may do what (access, consent,
//! moderation, rate limits, input), build the events, append them to the log and say what a
//! retry gets. It knows neither HTTP nor sockets, and is tested without a server.
//!
//! - [`Actions`] ([`handle`]): what the actions work with, put together once ([`start`]).
//! - [`commands`]: the write paths (rooms, members, sends, changes to messages, reading,
//!   people, accounts, sessions, erasure), each saying what happens on crash and retry.
//! - [`calls`]: what a `call` frame may do, and its relay.
//! - [`auth`]: tokens, refresh tokens, sessions still good, password hashes.
//! - [`validate`], [`moderation`], [`ratelimit`]: the guards in front of the log.
//! - [`sent`]: which message ids each sender has posted (a send's duplicate check).
//! - [`error`]: the one error type, mapped to the public error codes.

pub mod auth;
pub mod calls;
pub mod commands;
pub mod error;
pub mod handle;
pub mod moderation;
pub mod ratelimit;
pub mod sent;
pub mod start;
pub mod validate;

pub use error::{ApiError, ApiResult};
pub use handle::{Actions, Guards, Limits, Live, Reads};
pub use start::{Connections, Settings};
