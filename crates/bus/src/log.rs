//! The log: the event stream, made when it is missing (and nothing else makes it), its
//! identity (the epoch, watched for as long as the process runs), its dedupe window and the
//! resend bound that fits it, and reads of single events by seq or subject.

use std::time::Duration;

use async_nats::jetstream::stream::{self, StorageType};
use bytes::Bytes;

use crate::bus::Bus;
use crate::error::{BusError, stream_not_found};

/// How the event stream is created when it is missing.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// 1 for a single server, 3 for a cluster.
    pub replicas: usize,
    /// Window in which JetStream drops a second publish with the same `Nats-Msg-Id`.
    pub duplicate_window: Duration,
    /// How long an append (or a key bucket request) whose answer is undecided is sent again
    /// before it is answered `unavailable`; well inside the dedupe window.
    pub resend_bound: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            resend_bound: crate::recovery::RESEND_BOUND,
        }
    }
}

impl Bus {
    /// Whether the event stream exists (asked without creating it).
    pub async fn stream_exists(&self) -> Result<bool, BusError> {
        match self.js.get_stream(self.subjects.stream_name()).await {
            Ok(_) => Ok(true),
            Err(e) if stream_not_found(&e) => Ok(false),
            Err(e) => Err(BusError::unavailable(format!("stream info: {e}"))),
        }
    }

    /// Creates the event stream when it is missing (file storage, subjects `<ns>.ev.>`) and
    /// learns the log's epoch. Safe to call from every role at start.
    pub async fn ensure_stream(&self, settings: &StreamSettings) -> Result<(), BusError> {
        let config = stream::Config {
            name: self.subjects.stream_name(),
            subjects: vec![self.subjects.all_events()],
            storage: StorageType::File,
            num_replicas: settings.replicas,
            duplicate_window: settings.duplicate_window,
            allow_direct: true,
            deny_delete: true,
            deny_purge: true,
            description: Some("natter event log: the one source of truth".into()),
            ..Default::default()
        };
        let mut stream = self.js.get_or_create_stream(config).await.map_err(|e| {
            // Fewer nodes answer than the replicas asked for: decided, not worth waiting.
            let message = format!("create stream: {e}");
            if message.contains("insufficient resources") {
                BusError::other(format!(
                    "{message}: JetStream cannot place {} replicas",
                    settings.replicas
                ))
            } else {
                BusError::unavailable(message)
            }
        })?;
        let info = stream
            .info()
            .await
            .map_err(|e| BusError::unavailable(format!("stream info: {e}")))?;
        // An existing stream keeps the window it was made with: resends stay inside it.
        let window = info.config.duplicate_window;
        let fits = window.saturating_sub(crate::recovery::dedupe_margin(window));
        let bound = if settings.resend_bound < fits {
            settings.resend_bound
        } else {
            let shorter = fits.saturating_sub(fits / 4);
            tracing::warn!(
                window = ?window,
                configured = ?settings.resend_bound,
                resend_bound = ?shorter,
                "the log's dedupe window (as the stream was made) is short for the append resend bound: appends are sent again for less"
            );
            shorter
        };
        let _ = self.resend_bound.set(bound);
        let epoch = info.created.timestamp_micros().to_string();
        if self.epoch.set(epoch.clone()).is_ok() {
            crate::watch::spawn_checks(
                self.watch.clone(),
                self.js.clone(),
                self.subjects.stream_name(),
                epoch,
                self.events.subscribe(),
            );
        }
        let _ = self.stream.set(stream);
        Ok(())
    }

    pub(crate) fn stream(&self) -> Result<&stream::Stream, BusError> {
        self.stream
            .get()
            .ok_or_else(|| BusError::other("ensure_stream was not called"))
    }

    /// The window in which the log drops a second append with the same `Nats-Msg-Id`, as
    /// the server has it (an existing stream keeps the window it was created with).
    pub fn duplicate_window(&self) -> Result<Duration, BusError> {
        Ok(self.stream()?.cached_info().config.duplicate_window)
    }

    /// How long an append whose answer is undecided is sent again before it is answered
    /// `unavailable` (as the process was configured; the default before the stream is opened).
    pub fn resend_bound(&self) -> Duration {
        self.resend_bound
            .get()
            .copied()
            .unwrap_or(crate::recovery::RESEND_BOUND)
    }

    /// Whether the log this process started on still stands and takes appends.
    pub fn standing(&self) -> crate::Standing {
        self.watch.standing()
    }

    /// The log's identity (its creation time): seqs from another epoch mean nothing here.
    pub fn epoch(&self) -> &str {
        self.epoch.get().map(String::as_str).unwrap_or("")
    }

    /// The stored bytes of the event at `seq`.
    pub async fn get(&self, seq: u64) -> Result<Bytes, BusError> {
        self.stream()?
            .get_raw_message(seq)
            .await
            .map(|m| m.payload)
            .map_err(|e| BusError::unavailable(format!("get {seq}: {e}")))
    }

    /// The last event on `subject` and its seq; None when nothing was ever appended on it.
    pub async fn last_on_subject(&self, subject: &str) -> Result<Option<(u64, Bytes)>, BusError> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        match self
            .stream()?
            .get_last_raw_message_by_subject(subject)
            .await
        {
            Ok(message) => Ok(Some((message.sequence, message.payload))),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(BusError::unavailable(format!("last on {subject}: {e}"))),
        }
    }

    /// The newest seq in the log and the log's dedupe window, as the server has them now.
    pub async fn head_and_window(&self) -> Result<(u64, Duration), BusError> {
        let info = self
            .stream()?
            .get_info()
            .await
            .map_err(|e| BusError::unavailable(format!("stream info: {e}")))?;
        Ok((info.state.last_sequence, info.config.duplicate_window))
    }

    /// The newest seq in the log.
    pub async fn last_seq(&self) -> Result<u64, BusError> {
        Ok(self.head_and_window().await?.0)
    }

    /// The first seq still in the log (older ones aged out), and the last.
    pub async fn seq_range(&self) -> Result<(u64, u64), BusError> {
        let info = self
            .stream()?
            .get_info()
            .await
            .map_err(|e| BusError::unavailable(format!("stream info: {e}")))?;
        Ok((info.state.first_sequence, info.state.last_sequence))
    }
}
