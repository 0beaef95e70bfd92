//! A read model away from the group: its lane (a replay of its own, with backoff), and how it
//! is taken back once within a batch of the group.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use natter_projections::Projection;
use natter_projections::checkpoint;
use natter_projections::group::{Member, apply_group, wait_unheld};
use natter_projections::live::Live;
use tokio::task::JoinSet;

use super::{Shared, Slot, State, announce};
use crate::ProjectorError;
use natter_replay::reader::{LogReader, Until};
use natter_replay::replay::{ReplayOptions, replay};

/// Hands a read model to a lane of its own.
pub(super) fn go_alone(
    lanes: &mut JoinSet<(usize, Result<(), ProjectorError>)>,
    shared: &Shared,
    i: usize,
    slot: &mut Slot,
) {
    slot.set(State::Alone);
    let shared = shared.clone();
    let projection = slot.projection.clone();
    lanes.spawn(async move { (i, alone(shared, projection).await) });
}

/// Replays one read model on its own until it is within a batch of the group (or shutdown).
async fn alone(shared: Shared, projection: Arc<Live>) -> Result<(), ProjectorError> {
    let name = projection.name();
    loop {
        // Whoever holds the checkpoint row (a rebuild's swap) finishes first.
        if let Err(e) = wait_unheld(&shared.pool, name).await {
            tracing::warn!(projection = name, error = %e, "cannot read the checkpoint");
        }
        let target = shared.at.load(Ordering::Acquire);
        let options = ReplayOptions::new(shared.batch, Until::Seq(target));
        let reached = replay(
            &shared.bus,
            &shared.pool,
            &*projection,
            options,
            &shared.shutdown,
            |applied| announce(&shared.bus, name, applied),
        )
        .await?;
        if shared.shutdown.is_triggered()
            || shared.at.load(Ordering::Acquire).saturating_sub(reached) <= shared.batch as u64
        {
            return Ok(());
        }
    }
}

/// Takes a read model whose lane ended back into the group: brings it to `through` (the
/// group's position; it is within a batch of it) without waiting for its checkpoint row, or
/// sends it back to a lane when that row is held or the database refuses.
pub(super) async fn rejoin(
    lanes: &mut JoinSet<(usize, Result<(), ProjectorError>)>,
    shared: &Shared,
    i: usize,
    slot: &mut Slot,
    through: u64,
) {
    match catch_up(shared, &slot.projection, through).await {
        Ok(true) => {
            tracing::info!(
                projection = slot.projection.name(),
                "caught up: applied with the others again"
            );
            slot.set(State::Together);
        }
        Ok(false) => go_alone(lanes, shared, i, slot),
        Err(e) => {
            tracing::warn!(projection = slot.projection.name(), error = %e, "catching up failed: alone again");
            go_alone(lanes, shared, i, slot);
        }
    }
}

/// Applies the log to `projection` from its checkpoint through `through`, in stretches, each
/// as a group of one (so a held checkpoint row answers at once instead of being waited for).
/// False when the row is held or moved meanwhile.
async fn catch_up(
    shared: &Shared,
    projection: &Live,
    through: u64,
) -> Result<bool, ProjectorError> {
    let at = checkpoint(&shared.pool, projection.name()).await?;
    if at >= through {
        return Ok(true);
    }
    let mut reader = LogReader::open(
        &shared.bus,
        at + 1,
        Until::Seq(through),
        shared.batch,
        projection.name(),
    )
    .await?;
    while let Some(stretch) = reader.next().await {
        let stretch = stretch?;
        let members = apply_group(
            &shared.pool,
            &[projection],
            &stretch.events,
            stretch.from,
            stretch.through,
        )
        .await
        .map_err(|failure| failure.error)?;
        if !matches!(members[..], [Member::Applied(_)]) {
            return Ok(false);
        }
    }
    Ok(true)
}
