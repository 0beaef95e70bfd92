//! Whether the log this process started on still stands, and whether it takes appends.
//!
//! - **Lost**: the stream is gone or was made again (NATS lost its store, or another NATS
//!   answers at the address). Seqs from the log the process started on mean nothing in another
//!   one: from then on nothing is appended (or written to the key bucket), readers stop, and
//!   `/readyz` says why, until an operator restarts the process (whose start refuses a log
//!   that is not its read models' own). Checked every [`CHECK_EVERY`], on every reconnect, and
//!   at once when an append meets "no stream".
//! - **Full**: the log refused an append for its storage (a size limit reached, the server's
//!   disk or account limits). Said once per [`SAY_FULL_EVERY`] in the log, to clients as
//!   `unavailable` with the reason, and in `/readyz`, until an append goes through again.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::connection::ConnectionEvent;
use crate::error::{BusError, BusErrorKind};

/// How often the log's identity is checked while all is well.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How often a full log is said in the log while it stays full.
const SAY_FULL_EVERY: Duration = Duration::from_secs(30);

/// What the process knows of its log's standing.
#[derive(Default)]
pub(crate) struct Watch {
    lost: OnceLock<String>,
    /// Why the last append was refused for storage, and when that was last logged.
    full: Mutex<Option<(String, Option<Instant>)>>,
    check: Notify,
}

/// The log's standing, for readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Ok,
    /// The log is gone or replaced (why).
    Lost(String),
    /// The log refuses appends for its storage (why).
    Full(String),
}

impl Watch {
    pub(crate) fn standing(&self) -> Standing {
        if let Some(why) = self.lost.get() {
            return Standing::Lost(why.clone());
        }
        match &*self.full.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((why, _)) => Standing::Full(why.clone()),
            None => Standing::Ok,
        }
    }

    /// The refusal for any write once the log is lost.
    pub(crate) fn refuse_if_lost(&self) -> Result<(), BusError> {
        match self.lost.get() {
            Some(why) => Err(BusError::new(BusErrorKind::Lost, why)),
            None => Ok(()),
        }
    }

    fn lose(&self, why: String) {
        if self.lost.set(why.clone()).is_ok() {
            tracing::error!(
                why,
                "the log this process started on is lost: no more appends; restart natter once NATS holds the right log"
            );
            metrics::gauge!("natter_log_lost").set(1.0);
        }
    }

    /// Notes an append's error: a refusal for storage makes the log full, "no stream" asks
    /// for an identity check now. Returns the error with its kind set.
    pub(crate) fn note_error(&self, mut error: BusError) -> BusError {
        if is_storage_refusal(&error.message) {
            error.kind = BusErrorKind::Full;
            let mut full = self.full.lock().unwrap_or_else(|e| e.into_inner());
            let said = full.as_ref().and_then(|(_, said)| *said);
            if said.is_none_or(|at| at.elapsed() >= SAY_FULL_EVERY) {
                tracing::error!(error = %error, "the log refuses appends: its storage is full");
                *full = Some((error.message.clone(), Some(Instant::now())));
            } else if full.is_none() {
                *full = Some((error.message.clone(), said));
            }
            metrics::gauge!("natter_log_full").set(1.0);
            metrics::counter!("natter_log_full_refusals_total").increment(1);
        } else if error.message.contains("no stream found") {
            self.check.notify_one();
        }
        error
    }

    /// An append went through: the log is not full (any more).
    pub(crate) fn note_appended(&self) {
        let mut full = self.full.lock().unwrap_or_else(|e| e.into_inner());
        if full.take().is_some() {
            tracing::info!("the log takes appends again");
            metrics::gauge!("natter_log_full").set(0.0);
        }
    }
}

/// Whether JetStream's answer says the log has no room (a stream's byte or message limit with
/// discard-new, the server's or account's storage limits).
fn is_storage_refusal(message: &str) -> bool {
    const SAYINGS: [&str; 6] = [
        "maximum bytes exceeded",
        "maximum messages exceeded",
        "insufficient resources",
        "resource limits exceeded",
        "storage",
        "no space left",
    ];
    let message = message.to_ascii_lowercase();
    SAYINGS.iter().any(|s| message.contains(s))
}

/// Checks the log's identity until the process's last handle on it is gone: the stream
/// `name` must exist and have been created at `epoch` (microseconds).
pub(crate) fn spawn_checks(
    watch: Arc<Watch>,
    js: async_nats::jetstream::Context,
    name: String,
    epoch: String,
    mut connection: tokio::sync::broadcast::Receiver<ConnectionEvent>,
) {
    tokio::spawn(async move {
        // One handle is this task's own: when it is the last, the bus is gone.
        while Arc::strong_count(&watch) > 1 && watch.lost.get().is_none() {
            tokio::select! {
                () = tokio::time::sleep(CHECK_EVERY) => {}
                () = watch.check.notified() => {}
                Ok(event) = connection.recv() => {
                    if event != ConnectionEvent::Reconnected {
                        continue;
                    }
                }
            }
            match verdict(&js, &name, &epoch).await {
                Some(Verdict::Replaced(created)) => watch.lose(format!(
                    "the log `{name}` was made again: this process started on epoch {epoch}, NATS now holds epoch {created}"
                )),
                // Asked once more a second later: a cluster in the middle of an election must
                // not end a process's appends by a stray answer.
                Some(Verdict::Gone) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if matches!(verdict(&js, &name, &epoch).await, Some(Verdict::Gone)) {
                        watch.lose(format!(
                            "the log `{name}` (epoch {epoch}) is gone from NATS: its store was lost, or another NATS answers"
                        ));
                    }
                }
                None => {}
            }
        }
    });
}

/// What NATS says of the log, when it says something decided.
enum Verdict {
    Gone,
    /// Made again: its creation time now.
    Replaced(String),
}

/// Asks NATS for the stream `name`: gone, made again (not at `epoch`), or `None` when it is
/// there as it was, or nothing decided was answered (a leader being elected, the connection
/// down).
async fn verdict(js: &async_nats::jetstream::Context, name: &str, epoch: &str) -> Option<Verdict> {
    let found = tokio::time::timeout(Duration::from_secs(4), js.get_stream(name)).await;
    match found {
        Ok(Ok(stream)) => {
            let created = stream.cached_info().created.timestamp_micros().to_string();
            (created != epoch).then_some(Verdict::Replaced(created))
        }
        Ok(Err(e)) if crate::error::stream_not_found(&e) => Some(Verdict::Gone),
        Ok(Err(_)) | Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_refusals_are_told_from_other_errors() {
        assert!(is_storage_refusal(
            "publish failed: maximum bytes exceeded (code 400, error code 10078)"
        ));
        assert!(is_storage_refusal("insufficient resources"));
        assert!(!is_storage_refusal("no stream found for given subject"));
        assert!(!is_storage_refusal("timed out: didn't receive ack in time"));
    }

    #[test]
    fn a_full_log_is_said_until_an_append_goes_through() {
        let watch = Watch::default();
        let e = watch.note_error(BusError::other("maximum bytes exceeded"));
        assert_eq!(e.kind, BusErrorKind::Full);
        assert!(matches!(watch.standing(), Standing::Full(_)));
        watch.note_appended();
        assert_eq!(watch.standing(), Standing::Ok);
        watch.lose("gone".into());
        assert!(watch.refuse_if_lost().is_err());
        assert_eq!(watch.standing(), Standing::Lost("gone".into()));
    }
}
