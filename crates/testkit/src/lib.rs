//! natter-testkit (dev only): each test gets a fresh namespace (stream, subjects, consumers,
//! database), starts natter's roles in-process on port 0, and drives them through the public
//! REST and WebSocket surface like a client would.
//!
//! - [`TestEnv`]: a namespace on the local servers, cleaned up by [`TestEnv::cleanup`]; stale
//!   namespaces of crashed tests are swept after an hour.
//! - [`Natter`]: running roles in this process (all in one, or one role at a time);
//!   [`NatterProcess`]: the real binary as a child process (for kill -9 and multi-process).
//! - [`Api`]: a REST client; [`Ws`]: a WebSocket client.
//! - [`wait_until`]: poll a condition instead of sleeping.
//! - [`Proxy`]: a TCP proxy to cut a server away from natter and give it back.
//! - [`PrivateNats`]: a nats-server of the test's own, to kill and restart; [`PrivateCluster`]:
//!   three of them clustered on loopback.

mod api;
mod cluster;
mod env;
mod process;
mod proxy;
mod servers;
mod ws;

pub use api::Api;
pub use cluster::PrivateCluster;
pub use env::{Natter, Role, TestEnv, gateway_config, log_events, wait_until};
pub use process::{NatterProcess, natter_binary};
pub use proxy::Proxy;
pub use servers::{PrivateNats, PrivateS3};
pub use ws::{Ws, WsClosed, seqs};
