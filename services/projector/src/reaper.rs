//! The reaper: finishes erasures. The history model records each erasure (`pending_erasures`)
//! in the transaction that applies it, and the slots of each deleted message's versions
//! (`pending_slot_erasures`); the reaper destroys the user's key and releases their username,
//! or destroys the slots, then forgets the record. Until both are done it tries again, so an erasure whose
//! gateway crashed after appending it still loses its key. Both steps are idempotent: a
//! rebuild that records the erasures again changes nothing.

use std::time::Duration;

use natter_bus::{Bus, BusErrorKind};
use natter_common::Shutdown;
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::people::NameReleased;
use natter_schemas::sealed::SlotRef;
use natter_vault::Vault;
use sqlx::PgPool;
use uuid::Uuid;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// How often the reaper looks.
const EVERY: Duration = Duration::from_secs(1);

/// Finishes erasures until `shutdown`.
pub async fn reap(bus: Bus, pool: PgPool, vault: Vault, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            _ = tick.tick() => {}
        }
        if let Err(e) = reap_once(&bus, &pool, &vault).await {
            tracing::warn!(error = %e, "erasures not finished yet; trying again");
        }
    }
}

/// Destroys the slots of deleted messages queued now; how many.
async fn reap_slots(pool: &PgPool, vault: &Vault) -> Result<usize, Failure> {
    let queued: Vec<String> =
        sqlx::query_scalar("SELECT slot FROM pending_slot_erasures LIMIT 1000")
            .fetch_all(pool)
            .await?;
    if queued.is_empty() {
        return Ok(0);
    }
    let slots: Vec<SlotRef> = queued.iter().filter_map(|s| SlotRef::parse(s)).collect();
    vault.keys().destroy_slots(&slots).await?;
    sqlx::query("DELETE FROM pending_slot_erasures WHERE slot = ANY($1)")
        .bind(&queued)
        .execute(pool)
        .await?;
    Ok(queued.len())
}

/// Finishes the erasures (accounts, and deleted messages' slots) recorded now; how many
/// accounts.
pub async fn reap_once(bus: &Bus, pool: &PgPool, vault: &Vault) -> Result<usize, Failure> {
    reap_slots(pool, vault).await?;
    let pending: Vec<(Uuid, Option<String>)> =
        sqlx::query_as("SELECT user_id, name_token FROM pending_erasures LIMIT 100")
            .fetch_all(pool)
            .await?;
    for (user, token) in &pending {
        vault.keys().destroy_user(*user).await?;
        if let Some(token) = token {
            release(bus, *user, token).await?;
        }
        sqlx::query("DELETE FROM pending_erasures WHERE user_id = $1")
            .bind(user)
            .execute(pool)
            .await?;
        tracing::info!(%user, "erasure finished: key destroyed, username released");
    }
    Ok(pending.len())
}

/// Releases `user`'s username (its subject named by `token`), unless it is not theirs any more
/// (released already, or registered again since).
async fn release(bus: &Bus, user: Uuid, token: &str) -> Result<(), Failure> {
    let subject = bus.subjects().username_claim(token);
    let Some((seq, bytes)) = bus.last_on_subject(&subject).await? else {
        return Ok(());
    };
    let theirs = matches!(
        Event::from_bytes(&bytes).map(|e| e.body),
        Ok(EventBody::UserRegistered(u)) if u.user_id == user
    );
    if !theirs {
        return Ok(());
    }
    let event = Event::new(
        user,
        None,
        EventBody::NameReleased(NameReleased { user_id: user }),
    );
    match bus.append_if_last(subject, &event, seq).await {
        Ok(_) => Ok(()),
        // Something came after it meanwhile: the next round looks again.
        Err(e) if e.kind == BusErrorKind::Conflict => Ok(()),
        Err(e) => Err(e.into()),
    }
}
