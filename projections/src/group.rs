//! Several projections applied together: one stretch of the log, one transaction, one commit.
//!
//! The live projector reads the log once and applies each stretch to every projection that
//! stands where the stretch starts, in one transaction that also moves each one's checkpoint.
//! Each projection keeps its own checkpoint row, so each can still be rebuilt, verified and
//! replayed alone; the rows are locked without waiting, so a projection held elsewhere (a
//! rebuild's swap, another projector) is left out of the transaction instead of stalling it.

use std::collections::HashMap;

use natter_schemas::Event;
use sqlx::PgPool;

use crate::{Projection, ProjectionError, seq_i64};

/// What the group transaction did for one projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// Applied (or already had) the stretch: its checkpoint now.
    Applied(u64),
    /// Its checkpoint row is locked by another transaction: left out.
    Held,
    /// Its checkpoint is short of the stretch's start (events in between are missing): left
    /// out, at this checkpoint.
    Behind(u64),
}

/// Why a group transaction rolled back.
#[derive(Debug)]
pub struct GroupFailure {
    /// The projection whose statement the database refused (the others may well succeed
    /// without it); `None` when the failure is not one projection's (a lost connection, the
    /// commit itself).
    pub culprit: Option<usize>,
    pub error: ProjectionError,
}

impl GroupFailure {
    fn of(culprit: Option<usize>, error: impl Into<ProjectionError>) -> Self {
        Self {
            culprit,
            error: error.into(),
        }
    }
}

/// Creates the checkpoint rows of `names` that are missing (at 0), so that the group's
/// non-waiting lock finds every row.
pub async fn ensure_checkpoints(pool: &PgPool, names: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, last_seq)
         SELECT unnest($1::text[]), 0 ON CONFLICT DO NOTHING",
    )
    .bind(names)
    .execute(pool)
    .await?;
    Ok(())
}

/// Applies a contiguous stretch of the log, seqs `from..=through` (`events` its decodable
/// events, ascending), to every projection of `projections` that can take it, in one
/// transaction that moves their checkpoints to `through`. For each projection, as
/// [`crate::apply_batch`] would: events at or below its checkpoint are skipped; a checkpoint
/// short of `from - 1` leaves it out ([`Member::Behind`]); so does a checkpoint row another
/// transaction holds ([`Member::Held`]). Returns one [`Member`] per projection, in order.
///
/// A statement the database refuses rolls back the whole transaction; the failure names the
/// projection it came from, so that the caller can go on without it.
pub async fn apply_group<P: Projection>(
    pool: &PgPool,
    projections: &[&P],
    events: &[(u64, Event)],
    from: u64,
    through: u64,
) -> Result<Vec<Member>, GroupFailure> {
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    let mut tx = pool.begin().await.map_err(|e| GroupFailure::of(None, e))?;
    let held: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT name, last_seq FROM projection_checkpoints WHERE name = ANY($1)
         FOR UPDATE SKIP LOCKED",
    )
    .bind(&names)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| GroupFailure::of(None, e))?
    .into_iter()
    .collect();
    let mut members = Vec::with_capacity(projections.len());
    let (mut moved, mut to): (Vec<&str>, Vec<i64>) = (Vec::new(), Vec::new());
    for (i, projection) in projections.iter().enumerate() {
        let Some(&last) = held.get(projection.name()) else {
            members.push(Member::Held);
            continue;
        };
        let last = u64::try_from(last).unwrap_or(0);
        if from > last + 1 {
            members.push(Member::Behind(last));
            continue;
        }
        let fresh = &events[events.partition_point(|(seq, _)| *seq <= last)..];
        if !fresh.is_empty() {
            projection.apply(&mut tx, fresh).await.map_err(|e| {
                // A refusal (a constraint, bad data) is this projection's; anything else
                // (the connection) is everyone's.
                let culprit = matches!(e, sqlx::Error::Database(_)).then_some(i);
                GroupFailure::of(culprit, e)
            })?;
        }
        let now = last.max(through);
        if now > last {
            moved.push(projection.name());
            to.push(seq_i64(now));
        }
        members.push(Member::Applied(now));
    }
    if !moved.is_empty() {
        sqlx::query(
            "UPDATE projection_checkpoints c
             SET last_seq = v.seq, updated_at = now(), last_error = NULL
             FROM unnest($1::text[], $2::bigint[]) AS v(name, seq) WHERE c.name = v.name",
        )
        .bind(&moved)
        .bind(&to)
        .execute(&mut *tx)
        .await
        .map_err(|e| GroupFailure::of(None, e))?;
    }
    tx.commit().await.map_err(|e| GroupFailure::of(None, e))?;
    Ok(members)
}

/// Waits until no other transaction holds the checkpoint row of `name` (a rebuild's swap, a
/// group transaction elsewhere), taking and releasing it.
pub async fn wait_unheld(pool: &PgPool, name: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
