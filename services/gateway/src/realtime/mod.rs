//! The realtime pieces: what reaches sockets as it happens, and waits for it.
//!
//! - [`hub`]: one NATS subscription per room (and user) per gateway, fanned out to the local
//!   sockets; rooms' rules kept from their feeds.
//! - [`typing`]: typing signals over core NATS, never stored.
//! - [`presence`]: who is online, in Redis, followed over core NATS.
//! - [`readwait`]: waiting (bounded) for the read models to reach a seq.

pub mod calls;
pub mod hub;
pub mod lua;
pub mod presence;
pub mod readwait;
pub mod receipts;
pub mod typing;
