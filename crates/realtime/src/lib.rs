//! natter-realtime: what reaches a gateway's sockets as it happens, and waits for it. It
//! knows neither HTTP nor the chat actions' rules; the gateway owns the sockets and the
//! actions (`natter-actions`) decide what may be said.
//!
//! - [`hub`]: one NATS subscription per room (and user) per gateway, fanned out to the local
//!   sockets; rooms' rules kept from their feeds.
//! - [`wire`], [`void`]: events as frames, and which posts no reader may get.
//! - [`typing`]: typing signals over core NATS, never stored.
//! - [`presence`]: who is online, in Redis, followed over core NATS.
//! - [`calls`]: the record of a call in progress, and the ICE servers clients are given.
//! - [`receipts`]: delivery receipts, gathered and flushed to the log.
//! - [`readwait`]: waiting (bounded) for the read models to reach a seq.
//! - [`lua`]: Redis requests, bounded in time.

pub mod calls;
pub mod hub;
pub mod lua;
pub mod presence;
pub mod readwait;
pub mod receipts;
pub mod typing;
pub mod void;
pub mod wire;
