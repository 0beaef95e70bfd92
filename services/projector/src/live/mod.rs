//! The live projector: the log read once, each stretch applied to every live read model in one
//! transaction ([`natter_projections::group`]), with group commit.
//!
//! A read model that cannot go with the others runs alone for a while: one whose statement the
//! database refuses (so that search failing never holds up history), one whose checkpoint row
//! is held elsewhere (a rebuild swapping it in: the others are not stalled), and one that is
//! behind the rest at start. Alone, it replays on a reader of its own with its own
//! transactions, as a rebuild's catch-up does, retrying with backoff; once it is within one
//! batch of the group it hands back, and the group brings it the last few events and takes it
//! in again. Every checkpoint stays its own row, so nothing is applied twice or skipped
//! whichever way a read model went.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use natter_bus::{Bus, BusError};
use natter_common::{Ready, Shutdown};
use natter_projections::group::{GroupFailure, Member, apply_group, ensure_checkpoints};
use natter_projections::live::Live;
use natter_projections::{Projection, checkpoint, record_failure};
use sqlx::PgPool;
use tokio::task::JoinSet;

mod alone;

use crate::{ProjectorConfig, ProjectorError};
use alone::{go_alone, rejoin};
use natter_replay::reader::{Gathered, LogReader, Stretch, Until};
use natter_replay::replay::{Applied, Backoff, Statistics};

/// Where one read model is.
enum State {
    /// Applied with the others, in the group's transaction.
    Together,
    /// Replaying on its own (its task is in the lanes).
    Alone,
}

struct Slot {
    projection: Arc<Live>,
    state: State,
    statistics: Statistics,
}

impl Slot {
    /// Moves to `state`; `natter_projection_alone` shows read models replaying on their own.
    fn set(&mut self, state: State) {
        let alone = if matches!(state, State::Together) {
            0.0
        } else {
            1.0
        };
        metrics::gauge!("natter_projection_alone", "projection" => self.projection.name())
            .set(alone);
        self.state = state;
    }
}

/// What the group and the lanes share.
#[derive(Clone)]
struct Shared {
    bus: Bus,
    pool: PgPool,
    batch: usize,
    /// The seq through which the group has applied the log.
    at: Arc<AtomicU64>,
    shutdown: Shutdown,
}

/// Runs the live read models until `shutdown`.
pub async fn run_live(
    bus: Bus,
    pool: PgPool,
    projections: Vec<Live>,
    config: ProjectorConfig,
    shutdown: Shutdown,
    ready: Ready,
) -> Result<(), ProjectorError> {
    let names: Vec<&'static str> = projections.iter().map(|p| p.name()).collect();
    for name in &names {
        // Before 0.2 each projection read the log through a durable consumer; the checkpoint
        // in the database is what counts, so that consumer is only in the way.
        bus.delete_durable(name).await?;
    }
    ensure_checkpoints(&pool, &names)
        .await
        .map_err(natter_projections::ProjectionError::from)?;
    let mut slots = Vec::with_capacity(projections.len());
    let mut at = Vec::with_capacity(projections.len());
    for projection in projections {
        let reached = checkpoint(&pool, projection.name()).await?;
        at.push(reached);
        let mut slot = Slot {
            projection: Arc::new(projection),
            state: State::Together,
            statistics: Statistics::from(reached),
        };
        slot.set(State::Together);
        slots.push(slot);
    }
    // The group starts where the furthest read model stands; the others catch up alone.
    let mut reached = at.iter().copied().max().unwrap_or(0);
    let shared = Shared {
        bus: bus.clone(),
        pool: pool.clone(),
        batch: config.projector_batch.max(1),
        at: Arc::new(AtomicU64::new(reached)),
        shutdown: shutdown.clone(),
    };
    let linger = std::time::Duration::from_millis(config.projector_linger_ms);
    let mut lanes: JoinSet<(usize, Result<(), ProjectorError>)> = JoinSet::new();
    for (i, slot) in slots.iter_mut().enumerate() {
        if at[i] < reached {
            tracing::info!(
                projection = slot.projection.name(),
                at = at[i],
                group = reached,
                "behind the others: catching up alone"
            );
            go_alone(&mut lanes, &shared, i, slot);
        }
    }
    tracing::info!(projections = ?names, from = reached + 1, "projector started");
    ready.started();
    let mut backoff = Backoff::default();
    let mut last_commit: Option<tokio::time::Instant> = None;
    let mut reopening = false;
    // A consumer lost with its node or the connection is made again by the reader itself
    // (natter_bus::Reader), within seconds.
    let result: Result<(), ProjectorError> = 'open: loop {
        if std::mem::take(&mut reopening) && backoff.wait(&shutdown).await {
            break Ok(());
        }
        let mut reader =
            match LogReader::open(&bus, reached + 1, Until::Forever, shared.batch, "live").await {
                Ok(reader) => reader,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the log, retrying");
                    reopening = true;
                    continue 'open;
                }
            };
        let mut held: Option<Option<Result<Stretch, BusError>>> = None;
        loop {
            let item = match held.take() {
                Some(item) => item,
                None => tokio::select! {
                    () = shutdown.wait() => break 'open Ok(()),
                    Some(ended) = lanes.join_next() => {
                        match ended {
                            // Within a batch of the group: the last few events, and it is back.
                            Ok((i, Ok(()))) => rejoin(&mut lanes, &shared, i, &mut slots[i], reached).await,
                            Ok((_, Err(e))) => break 'open Err(e),
                            Err(e) => break 'open Err(BusError::other(format!("a projection task died: {e}")).into()),
                        }
                        continue;
                    }
                    s = reader.next() => s,
                },
            };
            let mut stretch = match item {
                Some(Ok(stretch)) => stretch,
                None => {
                    tracing::warn!("the log reader stopped, reading again");
                    reopening = true;
                    continue 'open;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "reading the log failed, reading again");
                    reopening = true;
                    continue 'open;
                }
            };
            if let Some(at) = last_commit
                && !linger.is_zero()
                && at.elapsed() < linger
            {
                match reader
                    .gather(&mut stretch, at + linger, shared.batch, &shutdown)
                    .await
                {
                    Gathered::Done => {}
                    Gathered::Held(other) => held = Some(other),
                    Gathered::Shutdown => break 'open Ok(()),
                }
            }
            // Apply the stretch to those together until it commits: nothing after it is read
            // before that.
            loop {
                let together: Vec<usize> = (0..slots.len())
                    .filter(|&i| matches!(slots[i].state, State::Together))
                    .collect();
                if together.is_empty() {
                    break;
                }
                let group: Vec<&Live> = together.iter().map(|&i| &*slots[i].projection).collect();
                match apply(&pool, &group, &stretch, shared.batch).await {
                    Ok(members) => {
                        last_commit = Some(tokio::time::Instant::now());
                        backoff = Backoff::default();
                        let covered = stretch.through + 1 - stretch.from;
                        let mut applied = Vec::with_capacity(members.len());
                        for (k, member) in members.into_iter().enumerate() {
                            let slot = &mut slots[together[k]];
                            match member {
                                Member::Applied(reached) => {
                                    slot.statistics
                                        .reached(&pool, &*slot.projection, reached)
                                        .await;
                                    applied.push((
                                        slot.projection.name(),
                                        Applied { reached, covered },
                                    ));
                                }
                                Member::Held | Member::Behind(_) => {
                                    tracing::info!(
                                        projection = slot.projection.name(),
                                        ?member,
                                        "held elsewhere or moved: going on alone"
                                    );
                                    go_alone(&mut lanes, &shared, together[k], slot);
                                }
                            }
                        }
                        announce_together(&bus, &applied).await;
                        break;
                    }
                    Err(GroupFailure {
                        culprit: Some(k),
                        error,
                    }) => {
                        let slot = &mut slots[together[k]];
                        let name = slot.projection.name();
                        tracing::error!(projection = name, error = %error, "applying events failed: it retries alone, the others go on");
                        let _ = record_failure(&pool, name, &error.to_string()).await;
                        metrics::counter!("natter_projection_errors_total", "projection" => name)
                            .increment(1);
                        go_alone(&mut lanes, &shared, together[k], slot);
                    }
                    Err(GroupFailure {
                        culprit: None,
                        error,
                    }) => {
                        tracing::error!(error = %error, "applying events failed, retrying");
                        for &i in &together {
                            let name = slots[i].projection.name();
                            let _ = record_failure(&pool, name, &error.to_string()).await;
                            metrics::counter!("natter_projection_errors_total", "projection" => name)
                                .increment(1);
                        }
                        if backoff.wait(&shutdown).await {
                            break 'open Ok(());
                        }
                    }
                }
            }
            reached = stretch.through;
            shared.at.store(reached, Ordering::Release);
        }
    };
    shutdown.trigger();
    while let Some(ended) = lanes.join_next().await {
        if let Ok((i, Err(e))) = ended {
            tracing::warn!(projection = slots[i].projection.name(), error = %e, "stopped with an error");
        }
    }
    tracing::info!("projector stopped");
    result
}

/// Applies a stretch to the read models together: in one transaction, or while catching up
/// (a stretch of at least half a batch) in one transaction each, at once, so that PostgreSQL
/// works on both cores and the slowest model bounds the stretch instead of the sum of them.
async fn apply(
    pool: &PgPool,
    group: &[&Live],
    stretch: &Stretch,
    batch: usize,
) -> Result<Vec<Member>, GroupFailure> {
    let (events, from, through) = (&stretch.events, stretch.from, stretch.through);
    if group.len() < 2 || through + 1 - from < (batch as u64 / 2).max(2) {
        return apply_group(pool, group, events, from, through).await;
    }
    let each = futures::future::join_all(
        group
            .iter()
            .map(|p| apply_group(pool, std::slice::from_ref(p), events, from, through)),
    )
    .await;
    let mut members = Vec::with_capacity(group.len());
    let mut refused = None;
    for (k, result) in each.into_iter().enumerate() {
        match result {
            Ok(one) => members.extend(one),
            // Everyone's failure first: those that committed skip the stretch when it is
            // applied again.
            Err(GroupFailure {
                culprit: None,
                error,
            }) => {
                return Err(GroupFailure {
                    culprit: None,
                    error,
                });
            }
            Err(GroupFailure {
                culprit: Some(_),
                error,
            }) => {
                // The first refusal is reported; the others come up when the stretch is
                // applied again without it.
                refused.get_or_insert(GroupFailure {
                    culprit: Some(k),
                    error,
                });
            }
        }
    }
    match refused {
        Some(failure) => Err(failure),
        None => Ok(members),
    }
}

/// Metrics for a commit, and its checkpoint on core NATS for readers waiting on it.
async fn announce(bus: &Bus, name: &'static str, applied: Applied) {
    record(name, applied);
    let _ = bus
        .notify(
            bus.subjects().checkpoint(name),
            None,
            Bytes::from(applied.reached.to_string()),
        )
        .await;
}

/// Announces the read models applied together in one message (one NATS message per commit,
/// however many read models; `name=seq` pairs).
async fn announce_together(bus: &Bus, applied: &[(&'static str, Applied)]) {
    if applied.is_empty() {
        return;
    }
    let mut payload = String::new();
    for (name, applied) in applied {
        record(name, *applied);
        if !payload.is_empty() {
            payload.push(' ');
        }
        payload.push_str(&format!("{name}={}", applied.reached));
    }
    let _ = bus
        .notify(
            bus.subjects().checkpoints_together(),
            None,
            Bytes::from(payload),
        )
        .await;
}

fn record(name: &'static str, applied: Applied) {
    metrics::counter!("natter_projected_events_total", "projection" => name)
        .increment(applied.covered);
    metrics::gauge!("natter_projection_checkpoint", "projection" => name)
        .set(applied.reached as f64);
}
