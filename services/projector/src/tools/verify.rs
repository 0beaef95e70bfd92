//! `natter projections verify`: a scratch rebuild compared with the live tables.

use std::time::{Duration, Instant};

use natter_bus::Bus;
use natter_common::Shutdown;
use natter_projections::shadow::{self, Indexes, Shadow, TableDigest};
use natter_projections::{Projection, checkpoint};
use sqlx::{PgConnection, PgPool};

use super::{
    BULK_PARTITIONS, Exclusive, Progress, RebuildOptions, Reporter, ToolError, bulk_into,
    replay_into,
};
use crate::ProjectorError;

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
