//! Replay: the one way events get from the log into a read model. The live projector replays
//! from its checkpoint forever; `natter projections rebuild` and `verify` replay from seq 1
//! into shadow tables; `natter rooms show --at` replays one room's events into scratch tables.
//!
//! Reading and decoding run on their own task, one stretch ahead of the database, so that
//! Postgres is never waiting for JSON. Each stretch is applied with
//! [`natter_projections::apply_batch`]: one transaction that also moves the checkpoint, so a
//! crash anywhere loses nothing and applies nothing twice; the next replay starts after the
//! checkpoint it finds. Longer than 400 lines: the reader and the applier are one pipeline,
//! a few lines past.

use std::time::Duration;

use natter_bus::{Bus, BusError};
use natter_common::Shutdown;
use natter_projections::{
    Projection, ProjectionError, analyze, apply_batch, checkpoint, record_failure, skip_to,
};
use natter_schemas::Event;
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::ReplayError as ProjectorError;
use crate::reader::Gathered;
pub use crate::reader::{LogReader, Stretch, Until};

/// How a replay reads and applies.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// Most events per transaction.
    pub batch: usize,
    pub until: Until,
    /// Group commit: a stretch that arrives within this long of the previous commit waits out
    /// the rest of it, gathering whatever else arrives by then into the same transaction.
    /// Under a steady stream that is one commit per `linger` instead of one per event; an
    /// event after a quiet spell is applied at once. Zero: never wait.
    pub linger: std::time::Duration,
}

impl ReplayOptions {
    /// Options that never wait for more (bulk replays: stretches are full anyway).
    pub fn new(batch: usize, until: Until) -> Self {
        Self {
            batch,
            until,
            linger: std::time::Duration::ZERO,
        }
    }
}

/// What one applied stretch did, for progress and metrics.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    /// The checkpoint after the stretch.
    pub reached: u64,
    /// Log entries the stretch covered (decodable or not).
    pub covered: u64,
}

/// Replays the log into `projection` on `pool` from its checkpoint on, until `options.until`
/// or `shutdown`, calling `on_applied` after each committed stretch. Returns the checkpoint.
///
/// Transient failures (the database or NATS away) are retried with backoff, never skipped:
/// the stretch is applied again until it commits, and a failed read of the log or of the
/// checkpoint starts again from the checkpoint. A stretch that does not start right after the
/// checkpoint (another writer moved it) makes the replay read again from the checkpoint. Seqs
/// that aged out of the log are covered by the first stretch (with no events for them), so
/// the checkpoint passes them in the same transaction.
pub async fn replay<P, F, Fut>(
    bus: &Bus,
    pool: &PgPool,
    projection: &P,
    options: ReplayOptions,
    shutdown: &Shutdown,
    mut on_applied: F,
) -> Result<u64, ProjectorError>
where
    P: Projection,
    F: FnMut(Applied) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let name = projection.name();
    let mut reached = checkpoint(pool, name).await?;
    let mut backoff = Backoff::default();
    let mut reopening = false;
    let mut statistics = Statistics::from(reached);
    let mut last_commit: Option<tokio::time::Instant> = None;
    'open: loop {
        if std::mem::take(&mut reopening) {
            // After a failure: pause, then start again from what the database says.
            if backoff.wait(shutdown).await {
                return Ok(reached);
            }
            match checkpoint(pool, name).await {
                Ok(at) => reached = at,
                Err(e) => {
                    tracing::warn!(projection = name, error = %e, "cannot read the checkpoint, retrying");
                    reopening = true;
                    continue 'open;
                }
            }
        }
        if let Until::Seq(limit) = options.until
            && reached >= limit
        {
            return Ok(reached);
        }
        let mut reader =
            match LogReader::open(bus, reached + 1, options.until, options.batch, name).await {
                Ok(reader) => reader,
                Err(e) => {
                    tracing::warn!(projection = name, error = %e, "cannot read the log, retrying");
                    reopening = true;
                    continue 'open;
                }
            };
        // What the reader said while a group commit was gathering (a failure, or its end),
        // handled next.
        let mut held: Option<Option<Result<Stretch, BusError>>> = None;
        loop {
            let stretch = match held.take() {
                Some(item) => item,
                None => tokio::select! {
                    () = shutdown.wait() => return Ok(reached),
                    s = reader.next() => s,
                },
            };
            let mut stretch = match stretch {
                Some(Ok(s)) => s,
                // The reader stops only at its `until` (checked at the top of the loop), or
                // when its task died.
                None => {
                    if !matches!(options.until, Until::Seq(limit) if reached >= limit) {
                        tracing::warn!(projection = name, "the log reader stopped, reading again");
                        reopening = true;
                    }
                    continue 'open;
                }
                Some(Err(e)) => {
                    tracing::warn!(projection = name, error = %e, "reading the log failed, reading again from the checkpoint");
                    reopening = true;
                    continue 'open;
                }
            };
            // Group commit: under a steady stream (the last commit was less than a linger
            // ago), gather what arrives until the linger is out into the same transaction.
            if let Some(at) = last_commit
                && !options.linger.is_zero()
                && at.elapsed() < options.linger
            {
                match reader
                    .gather(&mut stretch, at + options.linger, options.batch, shutdown)
                    .await
                {
                    Gathered::Done => {}
                    Gathered::Held(other) => held = Some(other),
                    Gathered::Shutdown => return Ok(reached),
                }
            }
            // Apply the same stretch until it commits: nothing after it is read before that.
            loop {
                match apply_batch(
                    pool,
                    projection,
                    &stretch.events,
                    stretch.from,
                    stretch.through,
                )
                .await
                {
                    Ok(now) => {
                        let covered = stretch.through + 1 - stretch.from;
                        last_commit = Some(tokio::time::Instant::now());
                        reached = now;
                        backoff = Backoff::default();
                        statistics.reached(pool, projection, reached).await;
                        on_applied(Applied { reached, covered }).await;
                        break;
                    }
                    Err(ProjectionError::Gap { expected, got }) => {
                        tracing::warn!(
                            projection = name,
                            expected,
                            got,
                            "the checkpoint moved; reading again from it"
                        );
                        reopening = true;
                        continue 'open;
                    }
                    Err(e) => {
                        tracing::error!(projection = name, error = %e, "applying events failed, retrying");
                        let _ = record_failure(pool, name, &e.to_string()).await;
                        metrics::counter!("natter_projection_errors_total", "projection" => name)
                            .increment(1);
                        if backoff.wait(shutdown).await {
                            return Ok(reached);
                        }
                    }
                }
            }
        }
    }
}

/// When a replay refreshes planner statistics. Tables that grow from empty need them early, or
/// the planner keeps choosing plans for empty tables (sequential scans for key lookups: a
/// replay slowed down as the tables grew, to under 2,000 events/s at 200k). Autovacuum would
/// see to it in its own time, when it runs at all: statistics are refreshed each time the
/// checkpoint has doubled, from 2,000 on.
pub struct Statistics {
    next: u64,
}

impl From<u64> for Statistics {
    fn from(reached: u64) -> Self {
        Self {
            next: (reached * 2).max(2_000),
        }
    }
}

impl Statistics {
    pub async fn reached<P: Projection>(&mut self, pool: &PgPool, projection: &P, reached: u64) {
        if reached >= self.next {
            self.next = reached * 2;
            self.refresh(pool, projection).await;
        }
    }

    async fn refresh<P: Projection>(&self, pool: &PgPool, projection: &P) {
        if let Err(e) = analyze(pool, projection).await {
            tracing::warn!(projection = projection.name(), error = %e, "analyze failed");
        }
    }
}

/// How [`replay_partitioned`] loads.
#[derive(Debug, Clone, Copy)]
pub struct Bulk {
    /// Most events per stretch read (each partition's share is one transaction).
    pub batch: usize,
    /// The seq to load through.
    pub target: u64,
    /// Connections applying at once.
    pub partitions: usize,
}

/// The partition of an event in [`replay_partitioned`]: its room's (events without a room go
/// to the first).
pub fn partition_of(event: &Event, partitions: usize) -> usize {
    event.room_id.map_or(0, |room| {
        (room.as_u128() % partitions.max(1) as u128) as usize
    })
}

/// Whether `event` changes rows of every room (an erased user's memberships, messages, index
/// entries): it goes to every partition, each applying it at its place among its own events
/// (its statements are idempotent).
fn spans_rooms(event: &Event) -> bool {
    matches!(event.body, natter_schemas::EventBody::UserErased(_))
}

/// Replays `(checkpoint, target]` into a shadow that nothing reads yet, on `partitions`
/// connections at once: each event goes to the partition of its room (events without a room to
/// the first; an erasure to every one), and each partition applies its own events in log order. The read models keep
/// nothing across rooms (a room's messages, members, positions and index entries are its own;
/// users are not room events), so each partition's result is what the whole replay would have
/// written for its rooms. The checkpoint follows the least seq every partition has committed
/// through, and is `target` at the end. Any failure fails the whole: the caller discards the
/// shadow.
///
/// `on_dispatched(reached, covered)` is called as stretches are handed out.
pub async fn replay_partitioned<P, F>(
    bus: &Bus,
    pool: &PgPool,
    projection: &P,
    bulk: Bulk,
    shutdown: &Shutdown,
    mut on_dispatched: F,
) -> Result<u64, ProjectorError>
where
    P: Projection + Clone + 'static,
    F: FnMut(u64, u64),
{
    let Bulk {
        batch,
        target,
        partitions,
    } = bulk;
    let name = projection.name();
    let start = checkpoint(pool, name).await? + 1;
    if start > target {
        return Ok(start - 1);
    }
    let partitions = partitions.max(1);
    let mut senders = Vec::with_capacity(partitions);
    let mut workers = tokio::task::JoinSet::new();
    // How far each partition has committed: everything up to the least of them is applied.
    let applied: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>> = std::sync::Arc::new(
        (0..partitions)
            .map(|_| std::sync::atomic::AtomicU64::new(start - 1))
            .collect(),
    );
    for k in 0..partitions {
        let (tx, mut rx) = mpsc::channel::<(u64, Vec<(u64, Event)>)>(2);
        senders.push(tx);
        let (pool, projection, applied) = (pool.clone(), projection.clone(), applied.clone());
        workers.spawn(async move {
            while let Some((through, events)) = rx.recv().await {
                if !events.is_empty() {
                    // Partitions write rows of one another's rooms when an erasure spans them:
                    // a transaction aborted to break a lock cycle is applied again.
                    natter_projections::retry_lock_conflicts(5, || {
                        natter_projections::apply_unchecked(&pool, &projection, &events)
                    })
                    .await?;
                }
                applied[k].store(through, std::sync::atomic::Ordering::Release);
            }
            Ok::<(), ProjectionError>(())
        });
    }
    let mut marked = start - 1;
    let mut reader = LogReader::open(bus, start, Until::Seq(target), batch, name).await?;
    let mut reached = start - 1;
    let mut statistics = Statistics::from(reached);
    let outcome: Result<(), ProjectorError> = async {
        while reached < target {
            let stretch = tokio::select! {
                () = shutdown.wait() => return Ok(()),
                s = reader.next() => s,
            };
            let stretch = match stretch {
                Some(s) => s?,
                None => break,
            };
            let mut split: Vec<Vec<(u64, Event)>> = vec![Vec::new(); partitions];
            for (seq, event) in stretch.events {
                if spans_rooms(&event) {
                    for part in split.iter_mut() {
                        part.push((seq, event.clone()));
                    }
                } else {
                    split[partition_of(&event, partitions)].push((seq, event));
                }
            }
            for (k, events) in split.into_iter().enumerate() {
                if senders[k].send((stretch.through, events)).await.is_err() {
                    // That worker failed: its error is reported below.
                    return Ok(());
                }
            }
            on_dispatched(stretch.through, stretch.through + 1 - stretch.from);
            reached = stretch.through;
            // The checkpoint follows what every partition has committed, so that `status`
            // shows the load's progress.
            let done = applied
                .iter()
                .map(|a| a.load(std::sync::atomic::Ordering::Acquire))
                .min()
                .unwrap_or(marked);
            if done > marked {
                skip_to(pool, name, done).await?;
                marked = done;
            }
            // The workers go on meanwhile.
            statistics.reached(pool, projection, reached).await;
        }
        Ok(())
    }
    .await;
    drop(senders);
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(result) => result?,
            Err(e) => {
                return Err(ProjectionError::Db(sqlx::Error::Protocol(format!(
                    "replay worker: {e}"
                )))
                .into());
            }
        }
    }
    outcome?;
    if reached >= target {
        projection
            .after_partitioned(pool)
            .await
            .map_err(ProjectionError::Db)?;
        skip_to(pool, name, target).await?;
        statistics.refresh(pool, projection).await;
    }
    Ok(reached)
}

/// Doubling pauses between retries, 100 ms to 5 s.
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    /// Sleeps; true when `shutdown` came first.
    pub async fn wait(&mut self, shutdown: &Shutdown) -> bool {
        let pause = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        tokio::select! {
            () = shutdown.wait() => true,
            () = tokio::time::sleep(pause) => false,
        }
    }
}
