//! natter-projector: applies the event log to the Postgres read models.
//!
//! Each projection replays the log from its checkpoint (see [`replay`]): every stretch of
//! events is applied in one transaction that also moves the projection's checkpoint. The
//! database, not NATS, is the truth about progress: a crash before a commit reads the
//! stretch again; a crash after it starts after the checkpoint; events at or below the
//! checkpoint are skipped, so nothing is applied twice and nothing is skipped.

pub mod reader;
pub mod replay;
pub mod tools;

use bytes::Bytes;
use natter_bus::{Bus, BusError};
use natter_common::Shutdown;
use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::unread::Unread;
use natter_projections::{Projection, ProjectionError};
pub use replay::{Applied, LogReader, ReplayOptions, Until, replay};
use sqlx::PgPool;

#[derive(Debug, Clone, clap::Args)]
pub struct ProjectorConfig {
    /// Most events applied in one transaction.
    #[arg(long, env = "NATTER_PROJECTOR_BATCH", default_value_t = 500)]
    pub projector_batch: usize,
    /// Group commit, in milliseconds: under a steady stream each projection commits at most
    /// once per this long, taking everything that arrived meanwhile (an event after a quiet
    /// spell is applied at once); 0 commits each stretch as it is read.
    #[arg(long, env = "NATTER_PROJECTOR_LINGER_MS", default_value_t = 10)]
    pub projector_linger_ms: u64,
    /// PostgreSQL text-search configuration for the search index (`english`, `simple`,
    /// `german`, ...). Changing it applies to new messages; rebuild the search projection to
    /// re-index old ones.
    #[arg(long, env = "NATTER_SEARCH_CONFIG", default_value = Search::DEFAULT_CONFIG)]
    pub search_config: String,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            projector_batch: 500,
            projector_linger_ms: 10,
            search_config: Search::DEFAULT_CONFIG.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("nats: {0}")]
    Bus(#[from] BusError),
    #[error("postgres: {0}")]
    Projection(#[from] ProjectionError),
}

/// Runs every projection until `shutdown`, each on its own durable consumer: history, unread
/// and search move at their own pace (the search index is the slowest to write).
pub async fn run(
    bus: Bus,
    pool: PgPool,
    config: ProjectorConfig,
    shutdown: Shutdown,
) -> Result<(), ProjectorError> {
    let search = Search::new(config.search_config.clone());
    search.prepare(&pool).await.map_err(ProjectionError::from)?;
    let stop_all = shutdown.clone();
    // When one ends (an error), stop the others.
    let ending = |r: Result<(), ProjectorError>| {
        stop_all.trigger();
        r
    };
    let (history, unread, search) = tokio::join!(
        async {
            ending(
                run_projection(
                    bus.clone(),
                    pool.clone(),
                    History,
                    config.clone(),
                    shutdown.clone(),
                )
                .await,
            )
        },
        async {
            ending(
                run_projection(
                    bus.clone(),
                    pool.clone(),
                    Unread,
                    config.clone(),
                    shutdown.clone(),
                )
                .await,
            )
        },
        async {
            ending(
                run_projection(
                    bus.clone(),
                    pool.clone(),
                    search,
                    config.clone(),
                    shutdown.clone(),
                )
                .await,
            )
        },
    );
    history.and(unread).and(search)
}

/// Runs one projection until `shutdown`: a [`replay`] from its checkpoint that never ends,
/// announcing each commit (metrics, and the checkpoint on core NATS for readers waiting on it).
pub async fn run_projection<P: Projection>(
    bus: Bus,
    pool: PgPool,
    projection: P,
    config: ProjectorConfig,
    shutdown: Shutdown,
) -> Result<(), ProjectorError> {
    let name = projection.name();
    // Before 0.2 each projection read the log through a durable consumer; the checkpoint in
    // the database is what counts, so that consumer is only in the way.
    bus.delete_durable(name).await?;
    tracing::info!(projection = name, "projector started");
    let options = ReplayOptions {
        batch: config.projector_batch,
        until: Until::Forever,
        linger: std::time::Duration::from_millis(config.projector_linger_ms),
    };
    replay(
        &bus,
        &pool,
        &projection,
        options,
        &shutdown,
        |applied: Applied| {
            metrics::counter!("natter_projected_events_total", "projection" => name)
                .increment(applied.covered);
            metrics::gauge!("natter_projection_checkpoint", "projection" => name)
                .set(applied.reached as f64);
            let bus = bus.clone();
            async move {
                let _ = bus
                    .notify(
                        bus.subjects().checkpoint(name),
                        None,
                        Bytes::from(applied.reached.to_string()),
                    )
                    .await;
            }
        },
    )
    .await?;
    tracing::info!(projection = name, "projector stopped");
    Ok(())
}
