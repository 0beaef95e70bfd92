//! The operator's tools over the read models: status, rebuild (shadow tables swapped in while
//! the live ones keep serving) and verify (a scratch rebuild compared with the live tables).
//! `natter projections ...` drives these; tests call them directly.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use natter_bus::Bus;
use natter_common::Shutdown;
use natter_projections::shadow::{self, Indexes, Shadow, TableDigest};
use natter_projections::{Projection, ProjectionError, checkpoint};
use natter_schemas::Event;
use sqlx::{PgConnection, PgPool};

use crate::ProjectorError;
use crate::replay::{ReplayOptions, Until, replay};

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
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self { batch: 5_000 }
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
    let reached = crate::replay::replay_partitioned(
        bus,
        shadow.pool(),
        projection,
        crate::replay::Bulk {
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
            let target = bus.last_seq().await?.max(live_at);
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

/// One table's comparison in a verify.
#[derive(Debug, Clone)]
pub struct TableCheck {
    pub table: &'static str,
    pub live: TableDigest,
    pub rebuilt: TableDigest,
    /// Rows (as text) only in the live table, and only in the rebuilt one (a few of each).
    pub only_live: Vec<String>,
    pub only_rebuilt: Vec<String>,
}

impl TableCheck {
    pub fn matches(&self) -> bool {
        self.live == self.rebuilt
    }
}

/// What a verify found.
#[derive(Debug, Clone)]
pub struct Verified {
    pub projection: &'static str,
    /// The seq both were compared at.
    pub checkpoint: u64,
    pub tables: Vec<TableCheck>,
    pub elapsed: Duration,
}

impl Verified {
    pub fn matches(&self) -> bool {
        self.tables.iter().all(TableCheck::matches)
    }
}

/// Snapshots a verify tries for one where its scratch copy has caught up with the live
/// projection, before it holds the live projector still for the comparison.
const VERIFY_SNAPSHOT_TRIES: u32 = 3;

/// Most differing rows shown per table and side.
const SHOWN_DIFFERENCES: i64 = 10;

/// Rebuilds `projection` into scratch tables up to the live checkpoint and compares each table
/// (row count and content hash; for a mismatch, the differing rows). Both are read at the same
/// checkpoint: in a snapshot in which the scratch copy has caught up, or, when the live
/// projector keeps moving, with it held still (its checkpoint row locked; readers go on) for
/// the last catch-up and the comparison. The scratch tables are dropped afterwards.
pub async fn verify<P: Projection + Clone + 'static>(
    bus: &Bus,
    live: &PgPool,
    projection: &P,
    options: RebuildOptions,
    shutdown: &Shutdown,
    report: Reporter<'_>,
) -> Result<Verified, ToolError> {
    let name = projection.name();
    let started = Instant::now();
    let exclusive = Exclusive::claim(live, name).await?;
    let schema = shadow::verify_schema(name);
    let result = async {
        // Compared by contents only: the indexes queries need are never built.
        let scratch = Shadow::create(
            live,
            &schema,
            projection,
            BULK_PARTITIONS as u32 + 1,
            Indexes::Deferred,
        )
        .await?;
        let checked = async {
            projection.prepare(scratch.pool()).await?;
            report(Progress::Phase("replaying"));
            let first = checkpoint(live, name).await.map_err(ProjectorError::from)?;
            bulk_into(bus, &scratch, projection, options, first, shutdown, report).await?;
            report(Progress::Phase("catching up"));
            let live_schema = shadow::live_schema(live).await?;
            let mut attempt = 0;
            let (at, tables) = loop {
                // One snapshot in which the scratch copy stands at the live checkpoint: both
                // checkpoints are read in it, and the comparison runs in it.
                let mut tx = live.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                let at = checkpoint(&mut *tx, name)
                    .await
                    .map_err(ProjectorError::from)?;
                let built = shadow::checkpoint_in(&mut *tx, Some(&schema), name).await?;
                if at < built {
                    return Err(ToolError::WentBack {
                        projection: name,
                        from: built,
                        to: at,
                    });
                }
                if at == built {
                    report(Progress::Phase("comparing"));
                    break (
                        at,
                        compare(&mut tx, &live_schema, &schema, projection).await?,
                    );
                }
                drop(tx);
                attempt += 1;
                if attempt >= VERIFY_SNAPSHOT_TRIES {
                    // The live projection keeps moving: hold it still (readers are not held)
                    // for the last catch-up and the comparison.
                    let (mut lock, at) = scratch.lock_live(live, name).await?;
                    replay_into(bus, &scratch, projection, options, at, shutdown, report).await?;
                    report(Progress::Phase("comparing"));
                    let tables = compare(lock.conn(), &live_schema, &schema, projection).await?;
                    break (at, tables);
                }
                replay_into(bus, &scratch, projection, options, at, shutdown, report).await?;
            };
            Ok(Verified {
                projection: name,
                checkpoint: at,
                tables,
                elapsed: started.elapsed(),
            })
        }
        .await;
        scratch.discard(live).await?;
        checked
    }
    .await;
    exclusive.release().await;
    result
}

async fn compare<P: Projection>(
    conn: &mut PgConnection,
    live_schema: &str,
    scratch_schema: &str,
    projection: &P,
) -> Result<Vec<TableCheck>, sqlx::Error> {
    let live = shadow::digests(conn, live_schema, projection).await?;
    let mut rebuilt = shadow::digests(conn, scratch_schema, projection).await?;
    let mut out = Vec::new();
    for (table, live) in live {
        let rebuilt = rebuilt.remove(table).unwrap_or(TableDigest {
            rows: 0,
            hash: String::new(),
        });
        let (only_live, only_rebuilt) = if live == rebuilt {
            (Vec::new(), Vec::new())
        } else {
            shadow::differing_rows(conn, live_schema, scratch_schema, table, SHOWN_DIFFERENCES)
                .await?
        };
        out.push(TableCheck {
            table,
            live,
            rebuilt,
            only_live,
            only_rebuilt,
        });
    }
    Ok(out)
}

/// Where a projection stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub projection: &'static str,
    pub checkpoint: u64,
    pub last_seq: u64,
    pub lag_events: u64,
    /// How long the oldest event not yet applied has been waiting (0 when caught up).
    pub lag_seconds: f64,
    /// `live`, `behind` (the oldest unapplied event is over 10 s old: is a projector
    /// running?), `rebuilding`, `interrupted rebuild` or `failed`.
    pub state: String,
    /// The last error applying events (cleared by the next commit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A rebuild's progress: its shadow's checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuild_at: Option<u64>,
}

/// How old the oldest unapplied event may be before a projection counts as behind.
const BEHIND_AFTER_SECS: f64 = 10.0;

/// The status of `projection`.
pub async fn status<P: Projection>(
    bus: &Bus,
    live: &PgPool,
    projection: &P,
) -> Result<Status, ToolError> {
    let name = projection.name();
    let row: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT last_seq, last_error FROM projection_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(live)
            .await?;
    let (at, error) = row.unwrap_or((0, None));
    let at = u64::try_from(at).unwrap_or(0);
    let (first_seq, last_seq) = bus.seq_range().await?;
    let lag_events = last_seq.saturating_sub(at);
    let lag_seconds = if lag_events > 0 {
        // The oldest event not applied that the log still holds.
        match bus
            .get((at + 1).max(first_seq))
            .await
            .ok()
            .and_then(|b| Event::from_bytes(&b).ok())
        {
            Some(event) => (chrono::Utc::now() - event.occurred_at)
                .to_std()
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            None => 0.0,
        }
    } else {
        0.0
    };
    let schema = shadow::rebuild_schema(name);
    let mut rebuild_at = None;
    let state = if shadow::exists(live, &schema).await? {
        rebuild_at = Some(
            shadow::checkpoint_in(live, Some(&schema), name)
                .await
                .unwrap_or(0),
        );
        match Exclusive::take(live, REBUILD_LOCK, name).await? {
            Some(free) => {
                free.release().await;
                "interrupted rebuild"
            }
            None => "rebuilding",
        }
    } else if error.is_some() {
        "failed"
    } else if lag_seconds > BEHIND_AFTER_SECS {
        // Not applying what the log has had for a while: no projector running, or one
        // that cannot keep up.
        "behind"
    } else {
        "live"
    };
    Ok(Status {
        projection: name,
        checkpoint: at,
        last_seq,
        lag_events,
        lag_seconds,
        state: state.to_owned(),
        error,
        rebuild_at,
    })
}

/// Every table's digest, by name (for tests and scripts).
pub async fn live_digests<P: Projection>(
    live: &PgPool,
    projection: &P,
) -> Result<BTreeMap<&'static str, TableDigest>, sqlx::Error> {
    let schema = shadow::live_schema(live).await?;
    let mut conn = live.acquire().await?;
    shadow::digests(&mut conn, &schema, projection).await
}

/// A room as it stood at a seq: replayed from the room's events up to it, into scratch
/// tables of the history projection (the same appliers as the live read model).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoomAt {
    pub room_id: uuid::Uuid,
    /// The seq the state is as of.
    pub at: u64,
    /// The log's head when asked.
    pub last_seq: u64,
    /// The room's events up to `at`.
    pub events: u64,
    /// `None` when the room did not exist (yet) at `at`.
    pub room: Option<RoomStateAt>,
    pub members: Vec<MemberAt>,
    pub bans: Vec<uuid::Uuid>,
    pub pins: Vec<uuid::Uuid>,
    pub messages: i64,
    pub deleted_messages: i64,
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct RoomStateAt {
    pub kind: String,
    pub name: String,
    pub topic: Option<String>,
    pub visibility: String,
    pub archived: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The seq of the room's newest event up to `at`.
    pub last_seq: i64,
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct MemberAt {
    pub user_id: uuid::Uuid,
    pub username: Option<String>,
    pub role: String,
    pub joined_seq: i64,
    pub muted_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Events applied per transaction when replaying one room.
const ROOM_BATCH: usize = 5_000;

/// The state of `room` as of seq `at` (the head when `None`).
pub async fn room_at(
    bus: &Bus,
    live: &PgPool,
    room: uuid::Uuid,
    at: Option<u64>,
) -> Result<RoomAt, ToolError> {
    use futures::StreamExt;
    use natter_projections::apply_batch;
    use natter_projections::history::History;

    let last_seq = bus.last_seq().await?;
    let at = at.unwrap_or(last_seq).min(last_seq);
    // Each time travel holds a lock named after its scratch schema while it works: schemas
    // whose lock is free were left by a killed run, and are dropped here.
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'natter\\_at\\_%'",
    )
    .fetch_all(live)
    .await?;
    for schema in stale {
        if let Some(free) = Exclusive::take(live, ROOM_AT_LOCK, &schema).await? {
            tracing::info!(%schema, "dropping what an interrupted time travel left");
            shadow::drop_schema(live, &schema).await?;
            free.release().await;
        }
    }
    let schema = format!("natter_at_{}", uuid::Uuid::new_v4().simple());
    let held = Exclusive::take(live, ROOM_AT_LOCK, &schema)
        .await?
        .ok_or_else(|| natter_bus::BusError::other("time travel lock"))?;
    let scratch = Shadow::create(live, &schema, &History, 1, Indexes::Deferred).await?;
    let result = async {
        let (mut messages, pending) = bus
            .read_filtered(bus.subjects().room_events(room), 1)
            .await?;
        let mut batch = Vec::new();
        let (mut from, mut through, mut events) = (1, 0, 0);
        for _ in 0..pending {
            let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
                .await
                .map_err(|_| natter_bus::BusError::unavailable("reading the room timed out"))?
                .ok_or_else(|| natter_bus::BusError::unavailable("the room's events ended early"))?
                .map_err(|e| natter_bus::BusError::unavailable(format!("reading the room: {e}")))?;
            let seq = message
                .info()
                .map_err(|e| natter_bus::BusError::other(format!("message info: {e}")))?
                .stream_sequence;
            if seq > at {
                break;
            }
            events += 1;
            through = seq;
            match Event::from_bytes(&message.payload) {
                Ok(event) => batch.push((seq, event)),
                Err(e) => tracing::error!(seq, error = %e, "skipping undecodable event"),
            }
            if batch.len() >= ROOM_BATCH {
                apply_batch(scratch.pool(), &History, &batch, from, through).await?;
                batch.clear();
                from = through + 1;
            }
        }
        if through >= from {
            apply_batch(scratch.pool(), &History, &batch, from, through).await?;
        }
        let pool = scratch.pool();
        let state: Option<RoomStateAt> = sqlx::query_as(
            "SELECT kind, name, topic, visibility, archived, created_at, last_seq FROM rooms WHERE id = $1",
        )
        .bind(room)
        .fetch_optional(pool)
        .await?;
        let mut members: Vec<MemberAt> = sqlx::query_as(
            "SELECT user_id, NULL::text AS username, role, joined_seq, muted_until FROM members
             WHERE room_id = $1 ORDER BY joined_seq, user_id",
        )
        .bind(room)
        .fetch_all(pool)
        .await?;
        // Usernames never change: the live users table has them.
        let ids: Vec<uuid::Uuid> = members.iter().map(|m| m.user_id).collect();
        let names: Vec<(uuid::Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, username FROM \"{}\".users WHERE id = ANY($1)",
            shadow::live_schema(live).await?
        )))
        .bind(&ids)
        .fetch_all(live)
        .await?;
        let names: std::collections::HashMap<_, _> = names.into_iter().collect();
        for m in &mut members {
            m.username = names.get(&m.user_id).cloned();
        }
        let bans = sqlx::query_scalar("SELECT user_id FROM bans WHERE room_id = $1 ORDER BY seq")
            .bind(room)
            .fetch_all(pool)
            .await?;
        let pins = sqlx::query_scalar("SELECT message_id FROM pins WHERE room_id = $1 ORDER BY seq")
            .bind(room)
            .fetch_all(pool)
            .await?;
        let (messages, deleted_messages): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted)
             FROM messages WHERE room_id = $1",
        )
        .bind(room)
        .fetch_one(pool)
        .await?;
        Ok(RoomAt {
            room_id: room,
            at,
            last_seq,
            events,
            room: state,
            members,
            bans,
            pins,
            messages,
            deleted_messages,
        })
    }
    .await;
    let discarded = scratch.discard(live).await;
    held.release().await;
    discarded?;
    result
}
