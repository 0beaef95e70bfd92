//! natter-gateway: the REST and WebSocket surface.
//!
//! Stateless: it authenticates (JWT), validates commands against the read models, appends
//! events to the log and pushes delivered events to its sockets. Any number run side by side.
//!
//! Layout:
//! - [`config`]: the gateway's flags and env vars.
//! - [`state`]: what every handler shares (bus, pool, tokens, hub, projection watch).
//! - [`commands`]: the write paths, shared by REST and WebSocket.
//! - [`rest`]: one module per REST resource, each with its routes.
//! - [`ws`]: the WebSocket session and frame handling.
//! - [`net`]: accepting connections: caps, the request-head timeout, trusted proxies.
//! - [`realtime`]: the hub (one NATS subscription per room and user, fanned out in-process),
//!   typing, presence and read waits.
//! - [`files`], [`gifs`]: uploads and downloads; GIF search through a provider.
//! - [`wire`]: events as clients see them (frames, and what a replay may show now).
//! - [`openapi`]: the OpenAPI document, built from the same route table as the router.
//! - [`web`]: the web client (`web/`), embedded, served at `/`.

pub mod admin;
pub mod auth;
pub mod commands;
pub mod config;
pub mod error;
pub mod files;
pub mod gifs;
pub mod moderation;
pub mod net;
pub mod openapi;
pub mod ratelimit;
pub mod realtime;
pub mod rest;
pub mod sent;
pub mod state;
pub mod validate;
pub mod void;
pub mod web;
pub mod wire;
pub mod ws;

// The realtime pieces by their short names, as the rest of the gateway uses them.
pub use realtime::{hub, presence, readwait, typing};

use std::time::Duration;

pub use config::GatewayConfig;
use natter_common::{Ready, Shutdown};
pub use state::{AppState, Deps};
use tokio::net::TcpListener;

/// Serves the gateway on `listener` until `shutdown`; then closes every socket with 1001 and
/// waits (bounded) for the sessions to finish. `ready` is told once it accepts connections.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: Shutdown,
    ready: Ready,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    // Its background tasks, joined after the drain (they end on shutdown).
    let mut background = tokio::task::JoinSet::new();
    background.spawn(admin::serve(state.clone(), state.gateway_id()));
    for task in state.background() {
        background.spawn(task);
    }
    tracing::info!(%addr, "gateway listening");
    ready.started();
    let app = rest::router(state.clone());
    net::serve(
        listener,
        app,
        &state.config().net,
        state.conns().clone(),
        shutdown,
    )
    .await?;
    // Every session was told to close (1001) by the shutdown; wait for each to finish its
    // closing handshake and cleanup.
    state.sessions().close();
    if tokio::time::timeout(Duration::from_secs(10), state.sessions().wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = state.sessions().len(),
            "sockets still closing after 10 s; stopping anyway"
        );
    }
    while background.join_next().await.is_some() {}
    tracing::info!(%addr, "gateway stopped");
    Ok(())
}
