//! The sweeper: removes the bytes of files nobody can read any more, and records each removal
//! in the log first (`file.removed`), so that a rebuild never lists a file whose bytes are
//! gone. Files are removed when they were never attached to a message within
//! `NATTER_UNATTACHED_FILE_SECS` of their upload, or when every message that carried them is
//! deleted; never while they are someone's avatar (a replaced avatar goes at the next sweep). Bytes that no event names (an upload cut short between storing and recording) are
//! removed once they are as old.
//!
//! Every gateway sweeps; the removal's event has a fixed message id, so two gateways
//! sweeping at once record it once, and deleting bytes twice is harmless. A crash between the
//! event and the delete leaves bytes of a removed file: the next sweep's orphan pass removes
//! them.

use std::collections::HashSet;
use std::time::Duration;

use futures::TryStreamExt;
use natter_common::Shutdown;
use natter_schemas::files::RemovalReason;
use uuid::Uuid;

use crate::state::AppState;

/// Files looked at per sweep and kind.
const BATCH: i64 = 500;

/// Sweeps every `NATTER_FILE_SWEEP_SECS` until `shutdown`. Its owner ([`crate::run`],
/// through the state's background tasks) spawns and joins it.
pub async fn sweep_files(state: AppState, shutdown: Shutdown) {
    let every = Duration::from_secs(state.files().config.file_sweep_secs.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            _ = tick.tick() => {}
        }
        match sweep_once(&state).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "files swept"),
            Err(e) => tracing::warn!(error = %e, "file sweep failed; trying again later"),
        }
    }
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Log(#[from] natter_bus::BusError),
    #[error(transparent)]
    Store(#[from] natter_files::StoreError),
}

/// One sweep: how many files (or orphaned bytes) it removed.
pub async fn sweep_once(state: &AppState) -> Result<usize, SweepError> {
    // Decided on the read models only once they have the whole log: a file attached, or
    // uploaded, a moment ago must be seen as such.
    let head = state.actions().bus().last_seq().await?;
    if !state
        .actions()
        .history()
        .wait_for(head, state.config().read_wait())
        .await
    {
        return Ok(0);
    }
    let ttl = i64::try_from(state.files().config.unattached_file_secs).unwrap_or(i64::MAX);
    let never: Vec<(Uuid, Uuid, Option<Uuid>)> = sqlx::query_as(
        "SELECT id, owner_id, room_id FROM files f
         WHERE NOT attached AND removed_at IS NULL
           AND uploaded_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_id = f.id)
         ORDER BY uploaded_at LIMIT $2",
    )
    .bind(ttl as f64)
    .bind(BATCH)
    .fetch_all(state.actions().pool())
    .await?;
    let unshown: Vec<(Uuid, Uuid, Option<Uuid>)> = sqlx::query_as(
        "SELECT f.id, f.owner_id, f.room_id FROM files f
         WHERE f.attached AND f.removed_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_id = f.id)
           AND NOT EXISTS (SELECT 1 FROM messages m
                           WHERE m.attachments @> jsonb_build_array(jsonb_build_object('file_id', f.id))
                             AND m.attachments IS NOT NULL AND NOT m.deleted)
           AND NOT EXISTS (SELECT 1 FROM messages m
                           WHERE m.previews @> jsonb_build_array(jsonb_build_object(
                                     'image', jsonb_build_object('file_id', f.id)))
                             AND m.previews IS NOT NULL AND NOT m.deleted)
         LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(state.actions().pool())
    .await?;
    let mut removed = 0;
    for (reason, files) in [
        (RemovalReason::NeverAttached, never),
        (RemovalReason::NoLongerShown, unshown),
    ] {
        for (file, owner, room) in files {
            remove(state, file, owner, room, reason).await?;
            removed += 1;
        }
    }
    removed += remove_orphans(state, ttl).await?;
    Ok(removed)
}

/// Records the removal ([`natter_actions::commands::files::removed`]), then deletes the bytes.
async fn remove(
    state: &AppState,
    file: Uuid,
    owner: Uuid,
    room: Option<Uuid>,
    reason: RemovalReason,
) -> Result<(), SweepError> {
    natter_actions::commands::files::removed(state.actions(), file, owner, room, reason).await?;
    state.files().store.delete(file).await?;
    Ok(())
}

/// Deletes bytes in the store that no file names (or that a removed file left), older than
/// `ttl` seconds.
async fn remove_orphans(state: &AppState, ttl: i64) -> Result<usize, SweepError> {
    let cutoff = chrono::Utc::now() - chrono::Duration::seconds(ttl);
    let stored: Vec<(Uuid, chrono::DateTime<chrono::Utc>)> =
        state.files().store.list().try_collect().await?;
    let old: HashSet<Uuid> = stored
        .into_iter()
        .filter(|(_, at)| *at < cutoff)
        .map(|(id, _)| id)
        .collect();
    if old.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = old.iter().copied().collect();
    let live: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM files WHERE id = ANY($1) AND removed_at IS NULL")
            .bind(&ids)
            .fetch_all(state.actions().pool())
            .await?;
    let mut removed = 0;
    for id in old.difference(&live.into_iter().collect()) {
        state.files().store.delete(*id).await?;
        removed += 1;
    }
    Ok(removed)
}
