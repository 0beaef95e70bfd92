//! `natter projections status`: where each projection stands.

use std::collections::BTreeMap;

use natter_bus::Bus;
use natter_projections::Projection;
use natter_projections::shadow::{self, TableDigest};
use natter_schemas::Event;
use sqlx::PgPool;

use super::{Exclusive, REBUILD_LOCK, ToolError};

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
