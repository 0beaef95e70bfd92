//! natter-projections: the Postgres read models built from the event log.
//!
//! - [`db`]: creating the database when it is missing, the pool, the migrations.
//! - [`Projection`] and [`apply_batch`]: a batch of events applied in one transaction that also
//!   advances the projection's checkpoint; events at or below the checkpoint are skipped, which
//!   gives exactly-once effects over at-least-once delivery.
//! - [`history`]: users, rooms, members and roles, messages, threads, edits, reactions, pins.
//! - [`unread`]: read positions, unread and mention counts, receipts.
//! - [`search`]: the full-text index.
//! - [`live`] and [`group`]: the three applied together, one transaction per stretch.
//! - [`identity`]: which log the read models were built from; another log's are refused.
//!
//! Each projection has its appliers (`mod.rs`) and its reads (`queries.rs`), writes only its own
//! tables, and so can be rebuilt from the log alone.

pub mod db;
pub mod group;
pub mod history;
pub mod identity;
pub mod live;
mod losses;
pub mod search;
pub mod shadow;
pub mod unread;

use natter_schemas::Event;
use sqlx::{PgConnection, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The batch does not continue where the projection stands: applying it would skip the
    /// events in between. The caller must read the log again from `expected`.
    #[error("gap: the projection needs seq {expected} next, the batch starts at {got}")]
    Gap { expected: u64, got: u64 },
}

/// A read model: plain event-to-SQL functions run inside the caller's transaction.
pub trait Projection: Send + Sync {
    /// Its checkpoint row (and its shadow schema in a rebuild) are named after it.
    fn name(&self) -> &'static str;

    /// The tables this projection writes (and nothing else writes).
    fn tables(&self) -> &'static [&'static str];

    /// Those of its tables that are work queues, not state: rebuilt with the rest, but not
    /// compared by verify (others drain them).
    fn queues(&self) -> &'static [&'static str] {
        &[]
    }

    /// Indexes of its tables that its appliers never read (only queries do): a bulk replay
    /// builds them after loading instead of row by row.
    fn deferred_indexes(&self) -> &'static [&'static str] {
        &[]
    }

    /// Sets up what the projection needs before its first event, on a pool that sees its
    /// tables (live, or a shadow being rebuilt). Run at every start; must be idempotent.
    fn prepare<'a>(
        &'a self,
        pool: &'a PgPool,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        let _ = pool;
        async { Ok(()) }
    }

    /// After a partitioned replay (each room's events applied on a connection of its own, see
    /// `natter_replay::replay_partitioned`), settles what crosses partitions. Must be
    /// idempotent.
    fn after_partitioned<'a>(
        &'a self,
        pool: &'a PgPool,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        let _ = pool;
        async { Ok(()) }
    }

    /// Applies events (ascending seq, all after the checkpoint) inside the caller's
    /// transaction. Must only touch this projection's tables. Implementations batch what they
    /// can (multi-row statements); the effect must equal applying them one by one.
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: &'a [(u64, Event)],
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'a;
}

/// Applies a contiguous stretch of the log, seqs `from..=through`, in one transaction, and
/// advances the checkpoint to `through`. `events` are the decodable events of that stretch,
/// ascending. Every projection consumes the whole log, whose seqs have no holes, so:
/// - events at or below the stored checkpoint are skipped (redelivery has no second effect);
/// - a stretch that starts after `checkpoint + 1` is refused with [`ProjectionError::Gap`]
///   (applying it would lose the events in between).
///
/// The checkpoint row is locked for the transaction, so concurrent projectors of the same
/// projection serialise, and neither applies an event twice nor skips one. Returns the
/// checkpoint after the batch.
pub async fn apply_batch<P: Projection>(
    pool: &PgPool,
    projection: &P,
    events: &[(u64, Event)],
    from: u64,
    through: u64,
) -> Result<u64, ProjectionError> {
    let mut tx = pool.begin().await?;
    let mut last = shadow::lock_checkpoint(&mut tx, None, projection.name()).await?;
    if from > last + 1 {
        return Err(ProjectionError::Gap {
            expected: last + 1,
            got: from,
        });
    }
    let fresh = events.partition_point(|(seq, _)| *seq <= last);
    let events = &events[fresh..];
    if !events.is_empty() {
        projection.apply(&mut tx, events).await?;
    }
    last = last.max(through);
    sqlx::query(
        "UPDATE projection_checkpoints SET last_seq = $2, updated_at = now(), last_error = NULL
         WHERE name = $1",
    )
    .bind(projection.name())
    .bind(seq_i64(last))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(last)
}

/// Applies `events` in one transaction without reading or moving the checkpoint. Only for
/// shadow tables being bulk-loaded by several connections at once (each with its own rooms),
/// where nothing reads them until the load is complete and a failure discards them.
pub async fn apply_unchecked<P: Projection>(
    pool: &PgPool,
    projection: &P,
    events: &[(u64, Event)],
) -> Result<(), ProjectionError> {
    let mut tx = pool.begin().await?;
    projection.apply(&mut tx, events).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether PostgreSQL gave up a transaction to break a lock cycle (`40P01`) or a conflict
/// between serializable ones (`40001`): it rolled back whole, and running it again is safe.
pub fn is_lock_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// Runs `apply` (one transaction) again when PostgreSQL aborted it to break a lock cycle, at
/// most `attempts` times in all, after a short pause that grows. Transactions that write rows
/// other transactions write too at the same time (the partitions of a replay, which an
/// erasure spans) can meet in such a cycle; the one aborted has changed nothing.
pub async fn retry_lock_conflicts<T, F, Fut>(
    attempts: u32,
    mut apply: F,
) -> Result<T, ProjectionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProjectionError>>,
{
    let mut attempt = 1;
    loop {
        match apply().await {
            Err(ProjectionError::Db(e)) if is_lock_conflict(&e) && attempt < attempts => {
                tracing::info!(error = %e, attempt, "a lock cycle aborted a transaction: applying it again");
                tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Advances the checkpoint past events that carry nothing for this projection (or could not be
/// decoded), without applying anything.
pub async fn skip_to(pool: &PgPool, name: &str, seq: u64) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, last_seq) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET last_seq = GREATEST(projection_checkpoints.last_seq, $2), updated_at = now()",
    )
    .bind(name)
    .bind(seq_i64(seq))
    .execute(pool)
    .await?;
    Ok(())
}

/// Notes that applying events to the projection failed (shown by `natter projections
/// status`; cleared by the next commit).
pub async fn record_failure(pool: &PgPool, name: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, last_seq, last_error) VALUES ($1, 0, $2)
         ON CONFLICT (name) DO UPDATE SET last_error = $2, updated_at = now()",
    )
    .bind(name)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// The projection's checkpoint: the seq of the last event it applied (0 when none).
/// Reads it on `executor`: a pool, or a transaction (as of its snapshot).
pub async fn checkpoint<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    name: &str,
) -> Result<u64, ProjectionError> {
    Ok(shadow::checkpoint_in(executor, None, name).await?)
}

/// A stretch of a batch applied together (events a projection applies with set-based
/// statements, in log order), or one event applied alone.
pub(crate) enum Step<'a> {
    Bulk(Vec<(u64, &'a Event)>),
    One(u64, &'a Event),
}

/// Cuts a batch into [`Step`]s, in log order. Events `ignored` has no effect on the
/// projection and are left out (so that they do not cut a bulk stretch); runs of events
/// `bulk` accepts go together; any other event is a step of its own.
pub(crate) fn steps<'a>(
    events: &'a [(u64, Event)],
    ignored: impl Fn(&Event) -> bool,
    bulk: impl Fn(u64, &Event) -> bool,
) -> impl Iterator<Item = Step<'a>> {
    let mut rest = events.iter().filter(move |(_, e)| !ignored(e)).peekable();
    std::iter::from_fn(move || {
        let (seq, first) = rest.next()?;
        if !bulk(*seq, first) {
            return Some(Step::One(*seq, first));
        }
        let mut run = vec![(*seq, first)];
        while let Some((seq, event)) = rest.next_if(|(seq, e)| bulk(*seq, e)) {
            run.push((*seq, event));
        }
        Some(Step::Bulk(run))
    })
}

/// Each room's newest seq among `events`.
pub(crate) fn room_heads<'a>(
    events: impl IntoIterator<Item = (u64, &'a Event)>,
) -> std::collections::HashMap<uuid::Uuid, i64> {
    let mut heads = std::collections::HashMap::new();
    for (seq, event) in events {
        if let Some(room) = event.room_id {
            let head: &mut i64 = heads.entry(room).or_default();
            *head = (*head).max(seq_i64(seq));
        }
    }
    heads
}

/// Raises `table`'s `last_seq` of each room in `events` to the room's newest seq there, in one
/// statement; rooms that `raised` already took that far (in a statement of their own) are left
/// out, and no statement runs when none is left.
pub(crate) async fn raise_room_heads(
    conn: &mut PgConnection,
    table: &'static str,
    key: &'static str,
    events: &[(u64, Event)],
    raised: &std::collections::HashMap<uuid::Uuid, i64>,
) -> Result<(), sqlx::Error> {
    let mut heads = room_heads(events.iter().map(|(seq, e)| (*seq, e)));
    heads.retain(|room, head| raised.get(room).is_none_or(|done| done < head));
    if heads.is_empty() {
        return Ok(());
    }
    let (rooms, seqs): (Vec<uuid::Uuid>, Vec<i64>) = heads.into_iter().unzip();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} r SET last_seq = GREATEST(r.last_seq, v.seq)
         FROM unnest($1::uuid[], $2::bigint[]) AS v(id, seq) WHERE r.{key} = v.id"
    )))
    .bind(&rooms)
    .bind(&seqs)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every row of a projection's tables (but its queues) as text, each table's rows sorted: two
/// builds of a projection from the same log must have equal contents.
pub async fn contents<P: Projection>(
    pool: &PgPool,
    projection: &P,
) -> Result<std::collections::BTreeMap<&'static str, Vec<String>>, sqlx::Error> {
    let mut out = std::collections::BTreeMap::new();
    for table in projection
        .tables()
        .iter()
        .filter(|t| !projection.queues().contains(t))
    {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM {table} t ORDER BY 1"
        )))
        .fetch_all(pool)
        .await?;
        out.insert(*table, rows);
    }
    Ok(out)
}

/// Refreshes the planner's statistics of a projection's tables (on whatever tables `pool`
/// sees: live, or a shadow).
pub async fn analyze<P: Projection>(pool: &PgPool, projection: &P) -> Result<(), sqlx::Error> {
    for table in projection.tables() {
        sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Empties a projection: its tables and its checkpoint, in one transaction.
pub async fn reset<P: Projection>(pool: &PgPool, projection: &P) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "TRUNCATE {}",
        projection.tables().join(", ")
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
        .bind(projection.name())
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Seqs are u64 in the log and bigint in Postgres; the log never gets near 2^63.
pub fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
