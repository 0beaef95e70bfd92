//! natter-projector: applies the event log to the Postgres read models.
//!
//! Every replay goes through [`replay`]: each stretch of events is applied in one transaction
//! that also moves the projection's checkpoint. The database, not NATS, is the truth about
//! progress: a crash before a commit reads the stretch again; a crash after it starts after
//! the checkpoint; events at or below the checkpoint are skipped, so nothing is applied twice
//! and nothing is skipped. The live projector ([`live`]) reads the log once for every read
//! model and applies each stretch to all of them in one transaction, each keeping its own
//! checkpoint; one that cannot go along replays alone until it has caught up.

pub mod live;
pub mod reaper;
pub mod tools;

use natter_bus::Bus;
use natter_common::{Ready, Shutdown};
use natter_projections::live::Live;
use natter_projections::search::Search;
use natter_projections::{Projection, ProjectionError};
/// A replay's failure is the projector's.
pub use natter_replay::ReplayError as ProjectorError;
pub use natter_replay::{Applied, LogReader, ReplayOptions, Until, replay};
use sqlx::PgPool;

#[derive(Debug, Clone, clap::Args)]
pub struct ProjectorConfig {
    /// Most events applied in one transaction. A stretch of at least half of it (catching up)
    /// is applied to each read model in a transaction of its own, at once.
    #[arg(long, env = "NATTER_PROJECTOR_BATCH", default_value_t = 500)]
    pub projector_batch: usize,
    /// Group commit, in milliseconds: under a steady stream the live projector commits at most
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

impl ProjectorConfig {
    /// Adds the settings that cannot work to `checks` (the search configuration is checked
    /// against PostgreSQL at start).
    pub fn check(&self, checks: &mut natter_common::config::Checks) {
        checks.require(
            (1..=100_000).contains(&self.projector_batch),
            "NATTER_PROJECTOR_BATCH",
            || format!("{} events: use 1 to 100000", self.projector_batch),
        );
        checks.require(
            self.projector_linger_ms <= 10_000,
            "NATTER_PROJECTOR_LINGER_MS",
            || format!("{} ms: use 0 to 10000", self.projector_linger_ms),
        );
    }
}

impl Default for ProjectorConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

/// Runs every live projection until `shutdown`: the log read once, each stretch applied to
/// history, unread and search in one transaction (see [`live`]); with `vault`, the
/// [`reaper`] finishes erasures beside it.
pub async fn run(
    bus: Bus,
    pool: PgPool,
    config: ProjectorConfig,
    vault: Option<natter_vault::Vault>,
    shutdown: Shutdown,
    ready: Ready,
) -> Result<(), ProjectorError> {
    let search = Search::new(config.search_config.clone());
    search.prepare(&pool).await.map_err(ProjectionError::from)?;
    let reaper = vault.map(|vault| {
        tokio::spawn(reaper::reap(
            bus.clone(),
            pool.clone(),
            vault,
            shutdown.clone(),
        ))
    });
    let ran = live::run_live(bus, pool, Live::all(search), config, shutdown, ready).await;
    if let Some(reaper) = reaper {
        reaper.abort();
    }
    ran
}
