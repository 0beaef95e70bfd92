//! natter-projector: applies the event log to the Postgres read models.
//!
//! One durable consumer per projection. Each batch of events is applied in one transaction
//! that also advances the projection's checkpoint; the batch is acked only after that commit.
//! A crash before the commit redelivers the batch; a crash after the commit and before the ack
//! redelivers events at or below the checkpoint, which are skipped. The database, not the
//! consumer, is the truth about progress: when the consumer is ahead of the checkpoint (the
//! read model was dropped), the consumer is recreated at the checkpoint.

use std::time::Duration;

use bytes::Bytes;
use natter_bus::{Batches, Bus, BusError, Next, ack_through, seq_of};
use natter_common::Shutdown;
use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::unread::Unread;
use natter_projections::{Projection, ProjectionError, apply_batch, checkpoint, skip_to};
use natter_schemas::Event;
use sqlx::PgPool;

#[derive(Debug, Clone, clap::Args)]
pub struct ProjectorConfig {
    /// Most events applied in one transaction.
    #[arg(long, env = "NATTER_PROJECTOR_BATCH", default_value_t = 500)]
    pub projector_batch: usize,
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

/// Runs one projection until `shutdown`: the loop of fetch, apply, commit, ack, announce.
pub async fn run_projection<P: Projection>(
    bus: Bus,
    pool: PgPool,
    projection: P,
    config: ProjectorConfig,
    shutdown: Shutdown,
) -> Result<(), ProjectorError> {
    let name = projection.name();
    let mut batches = open(&bus, &pool, name, config.projector_batch).await?;
    tracing::info!(projection = name, "projector started");
    loop {
        let batch = match batches.next_or_stop(&shutdown, name).await {
            Next::Batch(batch) => batch,
            Next::Stop => break,
            Next::Reopen => {
                batches = open(&bus, &pool, name, config.projector_batch).await?;
                continue;
            }
        };
        // Take the contiguous stretch at the head of the batch; anything after a hole is
        // read again after repositioning.
        let mut events = Vec::with_capacity(batch.len());
        let mut from = 0;
        let mut through = 0;
        let mut taken = 0;
        for message in &batch {
            let Ok(seq) = seq_of(message) else {
                tracing::error!(
                    projection = name,
                    "delivery without stream metadata; reading again"
                );
                break;
            };
            if taken > 0 && seq != through + 1 {
                break;
            }
            if taken == 0 {
                from = seq;
            }
            through = seq;
            taken += 1;
            match Event::from_bytes(&message.payload) {
                Ok(event) => events.push((seq, event)),
                Err(e) => {
                    // An event this version cannot read (a newer writer, or corruption). It is
                    // skipped, loudly, rather than halting every read model behind it.
                    metrics::counter!("natter_projection_undecodable_events_total", "projection" => name).increment(1);
                    tracing::error!(projection = name, seq, error = %e, "skipping undecodable event");
                }
            }
        }
        // Retry the same stretch until it commits: nothing is acked before that.
        let mut backoff = Duration::from_millis(100);
        let reached = loop {
            match apply_batch(&pool, &projection, &events, from, through).await {
                Ok(reached) => break Some(reached),
                Err(ProjectionError::Gap { expected, got }) => {
                    tracing::warn!(
                        projection = name,
                        expected,
                        got,
                        "gap in delivery; reading the log again from the checkpoint"
                    );
                    break None;
                }
                Err(e) => {
                    tracing::error!(projection = name, error = %e, "applying batch failed, retrying");
                    metrics::counter!("natter_projection_errors_total", "projection" => name)
                        .increment(1);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        if taken == 0 {
            batches = open(&bus, &pool, name, config.projector_batch).await?;
            continue;
        }
        let Some(reached) = reached else {
            batches = open(&bus, &pool, name, config.projector_batch).await?;
            continue;
        };
        if let Err(e) = ack_through(&batch[taken - 1]).await {
            // Harmless: the events will be redelivered and skipped by the checkpoint.
            tracing::warn!(projection = name, error = %e, "ack failed");
        }
        metrics::counter!("natter_projected_events_total", "projection" => name)
            .increment(taken as u64);
        metrics::gauge!("natter_projection_checkpoint", "projection" => name).set(reached as f64);
        let _ = bus
            .notify(
                bus.subjects().checkpoint(name),
                None,
                Bytes::from(reached.to_string()),
            )
            .await;
        if taken < batch.len() {
            tracing::warn!(
                projection = name,
                after = through,
                "hole in a delivered batch; reading the log again"
            );
            batches = open(&bus, &pool, name, config.projector_batch).await?;
        }
    }
    tracing::info!(projection = name, "projector stopped");
    Ok(())
}

/// The projection's durable consumer, positioned just after the database checkpoint: the
/// database, not the consumer, is the truth about what was applied.
async fn open(
    bus: &Bus,
    pool: &PgPool,
    name: &'static str,
    batch: usize,
) -> Result<Batches, ProjectorError> {
    let mut done = checkpoint(pool, name).await?;
    let (first, _) = bus.seq_range().await?;
    if first > done + 1 {
        tracing::error!(
            projection = name,
            checkpoint = done,
            first,
            "events before the log's first seq are gone; the read model misses them"
        );
        skip_to(pool, name, first - 1).await?;
        done = first - 1;
    }
    let consumer = bus.durable_at(name, done + 1).await?;
    Ok(Batches::new(&consumer, batch).await?)
}
