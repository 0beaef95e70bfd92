//! The operator's tools over the read models: status, rebuild (shadow tables swapped in while
//! the live ones keep serving) and verify (a scratch rebuild compared with the live tables).
//! `natter projections ...` drives these; tests call them directly.
//!
//! Layout: rebuild and the machinery it shares (this file), [`verify`], [`status`],
//! [`room_at`].

mod room_at;
mod status;
mod verify;

pub use room_at::*;
pub use status::*;
pub use verify::*;

use std::time::{Duration, Instant};

use natter_bus::Bus;
use natter_common::Shutdown;
use natter_projections::shadow::{self, Indexes, Shadow};
use natter_projections::{Projection, ProjectionError};
use sqlx::PgPool;

use crate::ProjectorError;
use natter_replay::replay::{ReplayOptions, Until, replay};

/// What a long-running tool reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// A step started (`replaying`, `catching up`, `swapping`, ...).
    Phase(&'static str),
    /// Events applied: the checkpoint `reached`, heading for `target`; `covered` log entries
    /// in this stretch.
    Applied {
        reached: u64,
        target: u64,
        covered: u64,
    },
}

/// Receives [`Progress`].
pub type Reporter<'a> = &'a mut (dyn FnMut(Progress) + Send);

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(transparent)]
    Projector(#[from] ProjectorError),
    #[error("a rebuild or verify of {projection} is running already; wait for it or stop it")]
    Busy { projection: &'static str },
    #[error("interrupted; the live read model is untouched, and running it again starts afresh")]
    Interrupted,
    #[error(
        "the live {projection} read model went back from seq {from} to {to} while being verified; run verify again"
    )]
    WentBack {
        projection: &'static str,
        from: u64,
        to: u64,
    },
}

impl From<sqlx::Error> for ToolError {
    fn from(e: sqlx::Error) -> Self {
        Self::Projector(ProjectorError::Projection(ProjectionError::Db(e)))
    }
}

impl From<ProjectionError> for ToolError {
    fn from(e: ProjectionError) -> Self {
        Self::Projector(ProjectorError::Projection(e))
    }
}

impl From<natter_bus::BusError> for ToolError {
    fn from(e: natter_bus::BusError) -> Self {
        Self::Projector(ProjectorError::Bus(e))
    }
}

/// Options of rebuild and verify.
#[derive(Debug, Clone, Copy)]
pub struct RebuildOptions {
    /// Most events per transaction.
    pub batch: usize,
    /// The live read model was built from another log (see `natter_projections::identity`):
    /// its checkpoint is no seq of this log, so the swap does not wait for the log to reach it.
    pub over_another_log: bool,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            batch: 5_000,
            over_another_log: false,
        }
    }
}

/// How long the swap waits for readers to let go of the live tables: well under Postgres'
/// `deadlock_timeout` (1 s by default), so that a reader caught between two of the tables is
/// never the one aborted.
const SWAP_LOCK_WAIT: Duration = Duration::from_millis(200);

/// Swap attempts before the rebuild gives up (the shadow is then discarded by the next run).
const SWAP_ATTEMPTS: u32 = 100;

fn rand_jitter() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// The live checkpoint right after the swap.
    pub checkpoint: u64,
    /// Log entries replayed.
    pub events: u64,
    pub elapsed: Duration,
}

/// A session-level advisory lock: one rebuild (or verify) of a projection at a time. A
/// process killed with it held loses it with its connection; so does one that drops it
/// without [`Exclusive::release`] (a cancelled future, an early return): that connection is
/// closed rather than handed back to the pool still holding the lock.
struct Exclusive {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
    class: i32,
    name: String,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// Advisory lock key: class, then the projection's name hashed. Rebuild and verify share it:
/// a swap under a verify's snapshot would compare against tables that changed under it.
const REBUILD_LOCK: i32 = 0x6e61_7401;
/// Held by a time travel (`room_at`) on its scratch schema's name.
const ROOM_AT_LOCK: i32 = 0x6e61_7403;

impl Exclusive {
    async fn take(live: &PgPool, class: i32, name: &str) -> Result<Option<Self>, sqlx::Error> {
        let mut conn = live.acquire().await?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(class)
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
        Ok(taken.then(|| Self {
            conn: Some(conn),
            class,
            name: name.to_owned(),
        }))
    }

    /// The rebuild lock of projection `name`, or [`ToolError::Busy`].
    async fn claim(live: &PgPool, name: &'static str) -> Result<Self, ToolError> {
        Self::take(live, REBUILD_LOCK, name)
            .await?
            .ok_or(ToolError::Busy { projection: name })
    }

    /// Unlocks, and hands the connection back to the pool (closes it when unlocking failed).
    async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let unlocked: Result<bool, _> =
                sqlx::query_scalar("SELECT pg_advisory_unlock($1, hashtext($2))")
                    .bind(self.class)
                    .bind(&self.name)
                    .fetch_one(&mut *conn)
                    .await;
            if !matches!(unlocked, Ok(true)) {
                drop(conn.detach());
            }
        }
    }
}

/// Replays `shadow` up to `target`, reporting progress; `Interrupted` on shutdown.
async fn replay_into<P: Projection>(
    bus: &Bus,
    shadow: &Shadow,
    projection: &P,
    options: RebuildOptions,
    target: u64,
    shutdown: &Shutdown,
    report: Reporter<'_>,
) -> Result<u64, ToolError> {
    let replay_options = ReplayOptions::new(options.batch, Until::Seq(target));
    let reached = replay(
        bus,
        shadow.pool(),
        projection,
        replay_options,
        shutdown,
        |applied| {
            report(Progress::Applied {
                reached: applied.reached,
                target,
                covered: applied.covered,
            });
            std::future::ready(())
        },
    )
    .await?;
    if reached < target {
        return Err(ToolError::Interrupted);
    }
    Ok(reached)
}

/// Connections a bulk replay into a shadow applies on at once.
const BULK_PARTITIONS: usize = 2;

/// Replays an empty `shadow` up to `target` on [`BULK_PARTITIONS`] connections, reporting
/// progress; `Interrupted` on shutdown.
async fn bulk_into<P: Projection + Clone + 'static>(
    bus: &Bus,
    shadow: &Shadow,
    projection: &P,
    options: RebuildOptions,
    target: u64,
    shutdown: &Shutdown,
    report: Reporter<'_>,
) -> Result<u64, ToolError> {
    let reached = natter_replay::replay::replay_partitioned(
        bus,
        shadow.pool(),
        projection,
        natter_replay::replay::Bulk {
            batch: options.batch,
            target,
            partitions: BULK_PARTITIONS,
        },
        shutdown,
        |reached, covered| {
            report(Progress::Applied {
                reached,
                target,
                covered,
            })
        },
    )
    .await?;
    if reached < target {
        return Err(ToolError::Interrupted);
    }
    Ok(reached)
}

/// Replays the whole log into shadow tables while the live ones keep serving, catches up with
/// the head, and swaps the shadow in (one transaction). Killed at any point before the swap's
/// commit, the live read model is untouched; the next run drops the leftovers and starts
/// afresh.
pub async fn rebuild<P: Projection + Clone + 'static>(
    bus: &Bus,
    live: &PgPool,
    projection: &P,
    options: RebuildOptions,
    shutdown: &Shutdown,
    report: Reporter<'_>,
) -> Result<Rebuilt, ToolError> {
    let name = projection.name();
    let started = Instant::now();
    let exclusive = Exclusive::claim(live, name).await?;
    // Log entries replayed (what the rate is made of; the checkpoint would also count seqs
    // that aged out of the log).
    let replayed = std::sync::atomic::AtomicU64::new(0);
    let report = &mut |progress: Progress| {
        if let Progress::Applied { covered, .. } = progress {
            replayed.fetch_add(covered, std::sync::atomic::Ordering::Relaxed);
        }
        report(progress);
    };
    let result = async {
        let schema = shadow::rebuild_schema(name);
        if shadow::exists(live, &schema).await? {
            tracing::warn!(projection = name, %schema, "dropping what an interrupted rebuild left");
        }
        let mut shadow = Shadow::create(
            live,
            &schema,
            projection,
            BULK_PARTITIONS as u32 + 1,
            Indexes::Deferred,
        )
        .await?;
        projection.prepare(shadow.pool()).await?;
        report(Progress::Phase("replaying"));
        let mut target = bus.last_seq().await?;
        let mut reached =
            bulk_into(bus, &shadow, projection, options, target, shutdown, report).await?;
        report(Progress::Phase("indexing"));
        shadow.build_deferred().await?;
        // Writes went on meanwhile: catch up in shorter and shorter rounds, so that the live
        // projection is held still only for the last few events.
        report(Progress::Phase("catching up"));
        loop {
            target = bus.last_seq().await?;
            if target.saturating_sub(reached) <= options.batch as u64 {
                break;
            }
            reached =
                replay_into(bus, &shadow, projection, options, target, shutdown, report).await?;
        }
        report(Progress::Phase("analyzing"));
        shadow.analyze(projection).await?;
        report(Progress::Phase("swapping"));
        let mut attempt = 0u32;
        let checkpoint = loop {
            let (lock, live_at) = shadow.lock_live(live, name).await?;
            let head = bus.last_seq().await?;
            let target = if options.over_another_log {
                head
            } else {
                head.max(live_at)
            };
            replay_into(bus, &shadow, projection, options, target, shutdown, report).await?;
            match lock.commit(&shadow, SWAP_LOCK_WAIT).await {
                Ok(checkpoint) => break checkpoint,
                Err(e) if shadow::is_lock_timeout(&e) && attempt < SWAP_ATTEMPTS => {
                    attempt += 1;
                    tracing::info!(
                        projection = name,
                        attempt,
                        "readers held the tables; swapping again"
                    );
                    let pause = 50 + u64::from(attempt) * 20 + u64::from(rand_jitter()) % 50;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        shadow.discard(live).await?;
        Ok(Rebuilt {
            checkpoint,
            events: replayed.load(std::sync::atomic::Ordering::Relaxed),
            elapsed: started.elapsed(),
        })
    }
    .await;
    exclusive.release().await;
    result
}
