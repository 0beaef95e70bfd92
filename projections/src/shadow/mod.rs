//! Shadow copies of a projection's tables, in a schema of their own, for rebuilds, verifies
//! and time travel.
//!
//! A shadow has the live tables' columns, defaults, checks, keys, statistics targets and
//! (named alike) indexes, and its own `projection_checkpoints`. A pool whose `search_path` is
//! the shadow's schema sees the shadow under the live names, so the projection's appliers
//! (which name tables unqualified) write into it unchanged, and the live tables are never
//! touched until [`SwapLock::commit`] puts the shadow in their place in one transaction.

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};

use crate::Projection;

mod copy;
mod digest;
use copy::copy_table;
pub use digest::{TableDigest, differing_rows, digests};

/// The schema a rebuild of `projection` builds in.
pub fn rebuild_schema(projection: &str) -> String {
    format!("natter_rebuild_{projection}")
}

/// The schema a verify of `projection` builds in.
pub fn verify_schema(projection: &str) -> String {
    format!("natter_verify_{projection}")
}

/// `"name"`, for SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The schema the live tables are in (the first schema of the pool's `search_path` that
/// exists: where the migrations created them).
pub async fn live_schema(live: &PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(live)
        .await
}

/// Whether `schema` exists.
pub async fn exists(live: &PgPool, schema: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(live)
        .await
}

/// Drops `schema` and everything in it (nothing when it does not exist).
pub async fn drop_schema(live: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        ident(schema)
    )))
    .execute(live)
    .await?;
    Ok(())
}

/// A projection's tables copied empty into their own schema, with a pool that sees them under
/// the live names.
pub struct Shadow {
    schema: String,
    live_schema: String,
    pool: PgPool,
    tables: &'static [&'static str],
    /// Indexes left out until [`Shadow::build_deferred`] (their `CREATE INDEX` statements).
    deferred: Vec<String>,
}

/// Which indexes a new shadow has from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexes {
    /// All of them: for a shadow that is read (time travel) or written a little.
    All,
    /// All but the projection's [`Projection::deferred_indexes`]: a bulk load maintains fewer
    /// indexes row by row; build them with [`Shadow::build_deferred`] (before a swap), or
    /// never (a verify compares contents only).
    Deferred,
}

impl Shadow {
    /// Creates `schema` afresh (dropping what a previous, interrupted run left there) with
    /// empty copies of `projection`'s tables. `pool_size` connections are opened on it.
    pub async fn create<P: Projection>(
        live: &PgPool,
        schema: &str,
        projection: &P,
        pool_size: u32,
        indexes: Indexes,
    ) -> Result<Self, sqlx::Error> {
        let live_schema = live_schema(live).await?;
        let mut tx = live.begin().await?;
        let mut deferred = Vec::new();
        let s = ident(schema);
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {s} CASCADE")))
            .execute(&mut *tx)
            .await?;
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {s}")))
            .execute(&mut *tx)
            .await?;
        for table in projection
            .tables()
            .iter()
            .copied()
            .chain(["projection_checkpoints"])
        {
            let defer = match indexes {
                Indexes::All => &[][..],
                Indexes::Deferred => projection.deferred_indexes(),
            };
            deferred.extend(copy_table(&mut tx, &live_schema, schema, table, defer).await?);
        }
        tx.commit().await?;
        let mut shadow = Self::open(live, schema, projection, pool_size).await?;
        shadow.deferred = deferred;
        Ok(shadow)
    }

    /// Builds the indexes left out at creation (each once).
    pub async fn build_deferred(&mut self) -> Result<(), sqlx::Error> {
        for statement in std::mem::take(&mut self.deferred) {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A shadow that exists already (after [`Shadow::create`]).
    pub async fn open<P: Projection>(
        live: &PgPool,
        schema: &str,
        projection: &P,
        pool_size: u32,
    ) -> Result<Self, sqlx::Error> {
        let live_schema = live_schema(live).await?;
        // Commits into a shadow need not wait for their WAL flush: a shadow is thrown away if
        // anything dies before the swap, and the swap's own (synchronous) commit flushes the
        // WAL up to it, so every shadow commit before it is durable with it.
        let options = (*live.connect_options())
            .clone()
            .options([("search_path", schema), ("synchronous_commit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .connect_with(options)
            .await?;
        Ok(Self {
            schema: schema.to_owned(),
            live_schema,
            pool,
            tables: projection.tables(),
            deferred: Vec::new(),
        })
    }

    /// A pool whose unqualified table names are the shadow's.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Holds the live projection still (its checkpoint row locked: the live projector waits,
    /// readers do not) until [`SwapLock::commit`] or drop. Returns the lock and the live
    /// checkpoint, which the shadow must reach before the swap.
    pub async fn lock_live(
        &self,
        live: &PgPool,
        name: &str,
    ) -> Result<(SwapLock, u64), sqlx::Error> {
        let mut tx = live.begin().await?;
        let at = lock_checkpoint(&mut tx, Some(&self.live_schema), name).await?;
        Ok((
            SwapLock {
                tx,
                name: name.to_owned(),
            },
            at,
        ))
    }

    /// Table statistics for the planner (autovacuum may be off, and it would take its time).
    pub async fn analyze<P: Projection>(&self, projection: &P) -> Result<(), sqlx::Error> {
        crate::analyze(&self.pool, projection).await
    }

    /// Closes the shadow's pool and drops its schema.
    pub async fn discard(self, live: &PgPool) -> Result<(), sqlx::Error> {
        self.pool.close().await;
        drop_schema(live, &self.schema).await
    }
}

/// The live projection held still for a swap (see [`Shadow::lock_live`]).
pub struct SwapLock {
    tx: Transaction<'static, Postgres>,
    name: String,
}

impl SwapLock {
    /// The transaction holding the lock: reads in it see the live tables as they stand.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Puts the shadow's tables in place of the live ones and the shadow's checkpoint in place
    /// of the live one, in this one transaction. Returns the new live checkpoint. The tables
    /// keep their statistics: run [`Shadow::analyze`] before, so that the planner knows them
    /// from the first query. The caller drops the shadow (its schema's leftovers) afterwards.
    ///
    /// Every live table is locked first, in one statement that waits at most `lock_wait`: a
    /// reader holding one table while waiting for another that the swap holds would otherwise
    /// deadlock with it. On [`is_lock_timeout`], nothing changed: take the lock again, catch
    /// up and retry.
    pub async fn commit(
        mut self,
        shadow: &Shadow,
        lock_wait: std::time::Duration,
    ) -> Result<u64, sqlx::Error> {
        let l = ident(&shadow.live_schema);
        let s = ident(&shadow.schema);
        let reached = checkpoint_in(&mut *self.tx, Some(&shadow.schema), &self.name).await?;
        sqlx::query(AssertSqlSafe(format!(
            "SET LOCAL lock_timeout = '{}ms'",
            lock_wait.as_millis().max(1)
        )))
        .execute(&mut *self.tx)
        .await?;
        let all: Vec<String> = shadow.tables.iter().map(|t| format!("{l}.{t}")).collect();
        sqlx::query(AssertSqlSafe(format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            all.join(", ")
        )))
        .execute(&mut *self.tx)
        .await?;
        for table in shadow.tables {
            sqlx::query(AssertSqlSafe(format!("DROP TABLE {l}.{table}")))
                .execute(&mut *self.tx)
                .await?;
            sqlx::query(AssertSqlSafe(format!(
                "ALTER TABLE {s}.{table} SET SCHEMA {l}"
            )))
            .execute(&mut *self.tx)
            .await?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {l}.projection_checkpoints SET last_seq = $2, updated_at = now(), last_error = NULL
             WHERE name = $1"
        )))
        .bind(&self.name)
        .bind(crate::seq_i64(reached))
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(reached)
    }
}

/// The swap could not lock the live tables in time (readers held them).
pub fn is_lock_timeout(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("55P03"))
}

/// Locks the checkpoint row of `name` in `schema` (the first on the `search_path` when
/// `None`) for the rest of the transaction, creating it at 0 when missing, and returns it:
/// whoever holds it is the one writer of that projection's tables.
pub(crate) async fn lock_checkpoint(
    conn: &mut PgConnection,
    schema: Option<&str>,
    name: &str,
) -> Result<u64, sqlx::Error> {
    let table = checkpoints_table(schema);
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (name, last_seq) VALUES ($1, 0) ON CONFLICT DO NOTHING"
    )))
    .bind(name)
    .execute(&mut *conn)
    .await?;
    let at: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT last_seq FROM {table} WHERE name = $1 FOR UPDATE"
    )))
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(at).unwrap_or(0))
}

fn checkpoints_table(schema: Option<&str>) -> String {
    match schema {
        Some(schema) => format!("{}.projection_checkpoints", ident(schema)),
        None => "projection_checkpoints".to_owned(),
    }
}

/// The checkpoint stored for `name` in `schema` (the first on the executor's `search_path`
/// when `None`), 0 when none.
pub async fn checkpoint_in<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    schema: Option<&str>,
    name: &str,
) -> Result<u64, sqlx::Error> {
    let table = checkpoints_table(schema);
    let seq: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT last_seq FROM {table} WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(executor)
    .await?;
    Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
}
