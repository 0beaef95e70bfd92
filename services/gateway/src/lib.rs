//! natter-gateway: the REST and WebSocket surface.
//!
//! Stateless: it authenticates (JWT), validates commands against the read models, appends
//! events to the log and pushes delivered events to its sockets. Any number run side by side.
//!
//! Layout:
//! - [`config`]: the gateway's flags and env vars.
//! - [`state`]: what every handler shares (bus, pool, tokens, hub, projection watch).
//! - What each chat action means (its checks, the events it appends, what a retry gets) is
//!   `natter-actions`, called by [`rest`] and [`ws`] alike; the realtime pieces (hub,
//!   presence, typing, call records, receipts, read waits) are `natter-realtime`.
//! - [`auth`]: who is calling a REST route, from the token the request carries.
//! - [`rest`]: one module per REST resource, each with its routes.
//! - [`ws`]: the WebSocket session and frame handling.
//! - [`net`]: accepting connections: caps, the request-head timeout, trusted proxies.
//! - [`files`], [`gifs`]: uploads and downloads; GIF search through a provider.
//! - [`openapi`]: the OpenAPI document, built from the same route table as the router.
//! - [`web`]: the web client (`web/`), embedded, served at `/`.

pub mod admin;
pub mod auth;
pub mod config;
pub mod error;
pub mod files;
pub mod gifs;
pub mod net;
pub mod openapi;
pub mod rest;
pub mod state;
pub mod web;
pub mod ws;

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
    background.spawn(admin::serve(state.clone(), state.ops().gateway_id()));
    for task in background_tasks(&state) {
        background.spawn(task);
    }
    tracing::info!(%addr, "gateway listening");
    ready.started();
    let app = rest::router(state.clone());
    net::serve(
        listener,
        app,
        &state.config().net,
        state.ops().conns().clone(),
        shutdown,
    )
    .await?;
    // Every session was told to close (1001) by the shutdown; wait for each to finish its
    // closing handshake and cleanup.
    state.ops().sessions().close();
    if tokio::time::timeout(Duration::from_secs(10), state.ops().sessions().wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = state.ops().sessions().len(),
            "sockets still closing after 10 s; stopping anyway"
        );
    }
    while background.join_next().await.is_some() {}
    tracing::info!(%addr, "gateway stopped");
    Ok(())
}

/// Every task the gateway runs beside its requests (the state's own, sweeping files, closing
/// sockets after lost deliveries, passing profile changes on, recording delivery receipts,
/// presence heartbeats and sweeps, stopping quiet typists), each ending at shutdown.
fn background_tasks(state: &AppState) -> Vec<futures::future::BoxFuture<'static, ()>> {
    use futures::FutureExt;
    let shutdown = state.ops().shutdown().clone();
    let mut tasks = state.own_tasks();
    tasks.extend([
        files::sweep_files(state.clone(), shutdown.clone()).boxed(),
        state
            .actions()
            .hub()
            .clone()
            .close_on_lost_deliveries(shutdown.clone())
            .boxed(),
        state
            .actions()
            .hub()
            .clone()
            .deliver_profiles(shutdown.clone())
            .boxed(),
        natter_realtime::receipts::flush_delivered(
            state.delivered().clone(),
            state.actions().bus().clone(),
            Duration::from_millis(state.config().delivered_flush_ms),
            shutdown.clone(),
        )
        .boxed(),
        state
            .presence()
            .clone()
            .keep(state.actions().hub().clone(), shutdown.clone())
            .boxed(),
        state.typing().clone().stop_quiet_typists(shutdown).boxed(),
    ]);
    tasks
}
