//! Waiting out a NATS cluster's trouble: a node lost, a leader being elected, the client
//! reconnecting to another node. What a role needs from JetStream at such a moment (its
//! consumer, the stream's state) is asked again, with backoff, for a bounded time, so that a
//! node's loss costs latency and not the process; past the bound the role says why and fails.

use std::time::{Duration, Instant};

use crate::error::{BusError, BusErrorKind};

/// How long an undecided append (or key bucket request) is sent again before it is answered
/// `unavailable`, unless the process is configured otherwise
/// ([`crate::StreamSettings::resend_bound`]).
pub const RESEND_BOUND: Duration = Duration::from_secs(15);

/// What natter takes off the dedupe window before it relies on it: the time between reading
/// the log's head and the clocks' drift; 10 s, or a quarter of a shorter window. An append is
/// sent again only within the window less this.
pub fn dedupe_margin(window: Duration) -> Duration {
    (window / 4).min(Duration::from_secs(10))
}

/// How long a role waits for JetStream to answer again before it gives up.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(60);
/// The longest one try may take: a request to a leader that is gone waits for the client's
/// timeout (10 s) otherwise, though a new leader may answer a second later.
const TRY_TIMEOUT: Duration = Duration::from_secs(4);

/// `attempt`, again after each `unavailable` answer (100 ms, doubling to 2 s between tries)
/// until it succeeds or [`RECOVERY_BOUND`] has passed (a role's consumer); another error ends it at once. `what`
/// names it in the log and in the error.
pub async fn within_bound<T, F, Fut>(what: &str, attempt: F) -> Result<T, BusError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BusError>>,
{
    within(what, RECOVERY_BOUND, attempt).await
}

/// [`within_bound`], for at most `bound`.
pub async fn within<T, F, Fut>(what: &str, bound: Duration, mut attempt: F) -> Result<T, BusError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BusError>>,
{
    let mut started = Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        let tried = tokio::time::timeout(TRY_TIMEOUT, attempt())
            .await
            .unwrap_or_else(|_| {
                Err(BusError::unavailable(format!(
                    "timed out after {TRY_TIMEOUT:?}"
                )))
            });
        match tried {
            Ok(value) => {
                if wait > Duration::from_millis(100) {
                    tracing::info!(what, after = ?started.elapsed(), "NATS answers again");
                }
                return Ok(value);
            }
            Err(e) if e.kind == BusErrorKind::Lost => {
                // Nothing to do until an operator restarts the process (said once where it
                // was found, and in readiness): the role waits, the bound does not run.
                tokio::time::sleep(Duration::from_secs(5)).await;
                started = Instant::now();
            }
            Err(e) if e.kind == BusErrorKind::Unavailable && started.elapsed() + wait < bound => {
                tracing::warn!(what, error = %e, retry_in = ?wait, "NATS did not answer; asking again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                return Err(BusError::new(
                    e.kind,
                    format!("{what}: {} (after {:?})", e.message, started.elapsed()),
                ));
            }
        }
    }
}
