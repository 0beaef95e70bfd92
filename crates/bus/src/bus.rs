//! The bus: the event stream (created when missing), appends, reads from a seq, durable
//! consumers, core NATS notifications. Longer than 400 lines: one job (the `Bus` type and its
//! connection), a few lines past; replays live in `replay/`, batched reading in `batches.rs`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::stream::ConsumerErrorKind;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self, Context, ErrorCode};
use async_nats::{Client, ConnectOptions};
use bytes::Bytes;
use natter_common::config::Connections;

use crate::connection::ConnectionEvent;
use crate::error::{BusError, BusErrorKind};
use crate::reader::Reader;
use crate::subjects::Subjects;

/// The header on fan-out deliveries that carries the event's stream sequence.
pub const SEQ_HEADER: &str = "Natter-Seq";
/// The header on fan-out deliveries that carries the seq of the room's previous event (when
/// the fan-out knows it), so that a gateway notices a delivery it never got.
pub const PREV_SEQ_HEADER: &str = "Natter-Prev-Seq";
/// The header on a message to a user's delivery subject that is no event but a server frame,
/// ready to pass on to the user's sockets as it is (call signalling).
pub const FRAME_HEADER: &str = "Natter-Frame";

/// How long a role's consumer waits for an ack before delivering again.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Headers a fan-out delivery carries.
pub struct DeliveryHeaders;

impl DeliveryHeaders {
    /// The `seq` of a delivered event, from its headers.
    pub fn seq(message: &async_nats::Message) -> Option<u64> {
        Self::number(message, SEQ_HEADER)
    }

    /// The seq of the room's previous event, when the fan-out knew it.
    pub fn prev_seq(message: &async_nats::Message) -> Option<u64> {
        Self::number(message, PREV_SEQ_HEADER)
    }

    /// Whether the delivery is a ready server frame (see [`FRAME_HEADER`]).
    pub fn is_frame(message: &async_nats::Message) -> bool {
        message
            .headers
            .as_ref()
            .is_some_and(|h| h.get(FRAME_HEADER).is_some())
    }

    fn number(message: &async_nats::Message, header: &str) -> Option<u64> {
        message.headers.as_ref()?.get(header)?.as_str().parse().ok()
    }
}

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

/// The NATS connection, the event stream and the subjects of one namespace. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    pub(crate) client: Client,
    events: tokio::sync::broadcast::Sender<ConnectionEvent>,
    /// How many times the connection dropped: appends waiting for an ack give up on a drop.
    pub(crate) drops: Arc<tokio::sync::watch::Sender<u64>>,
    pub(crate) js: Context,
    subjects: Subjects,
    stream: Arc<OnceLock<stream::Stream>>,
    epoch: Arc<OnceLock<String>>,
    /// Puts events' sealed personal data back in place as they are read (see `unseal`).
    pub(crate) unsealer: Arc<OnceLock<Arc<dyn crate::Unseal>>>,
    /// How long an undecided append is sent again ([`StreamSettings::resend_bound`]).
    pub(crate) resend_bound: Arc<OnceLock<Duration>>,
    /// Whether the log still stands and takes appends (see `watch`).
    pub(crate) watch: Arc<crate::watch::Watch>,
    /// Answers to "is there a room event in this stretch of the log", shared by replays.
    pub(crate) stretches: crate::replay::tables::Stretches,
    /// Replays in flight up to a live feed's seq, shared by every caller asking for the same.
    pub(crate) flights: crate::replay::tables::Flights,
}

impl Bus {
    /// Connects to the NATS server(s) of `conn` for its namespace. Fails (does not hang) when
    /// none can be reached within its connect timeout.
    pub async fn connect(conn: &Connections, name: &str) -> Result<Self, BusError> {
        let (url, namespace, timeout) = (&conn.nats_url, &conn.namespace, conn.connect_timeout());
        let (events, _) = tokio::sync::broadcast::channel(16);
        let drops = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let sender = events.clone();
        let dropped = drops.clone();
        let options = ConnectOptions::new()
            .event_callback(move |event| {
                let sender = sender.clone();
                if matches!(event, async_nats::Event::Disconnected) {
                    dropped.send_modify(|n| *n += 1);
                }
                let ever_dropped = *dropped.borrow() > 0;
                async move {
                    let mapped = match event {
                        async_nats::Event::Disconnected => Some(ConnectionEvent::Disconnected),
                        async_nats::Event::SlowConsumer(_) => Some(ConnectionEvent::SlowConsumer),
                        async_nats::Event::Connected => Some(ConnectionEvent::Reconnected),
                        _ => None,
                    };
                    if let Some(mapped) = mapped {
                        if mapped.is_trouble() {
                            tracing::warn!(event = ?mapped, "nats connection trouble");
                        } else if ever_dropped {
                            tracing::info!("nats connection back");
                        } else {
                            tracing::debug!("nats connected");
                        }
                        let _ = sender.send(mapped);
                    }
                }
            })
            .name(name)
            .connection_timeout(timeout)
            .ping_interval(conn.nats_ping_interval())
            .subscription_capacity(65_536)
            .client_capacity(65_536);
        let options = crate::servers::authenticated(options, conn).await?;
        let servers = crate::servers::server_list(url)?;
        let client = tokio::time::timeout(timeout, options.connect(servers))
            .await
            .map_err(|_| BusError::unavailable(format!("timed out after {timeout:?}")))?
            .map_err(BusError::unavailable)?;
        // A request to a leader that is gone is answered by no one: 5 s, not 10, before it is
        // asked again (an append's ack, sent again with the same id; a role's consumer).
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .build(client.clone());
        Ok(Self {
            client,
            events,
            drops,
            js,
            subjects: Subjects::new(namespace),
            stream: Arc::new(OnceLock::new()),
            epoch: Arc::new(OnceLock::new()),
            watch: Arc::default(),
            resend_bound: Arc::default(),
            stretches: Default::default(),
            flights: Default::default(),
            unsealer: Arc::new(OnceLock::new()),
        })
    }

    /// Whether the event stream exists (asked without creating it).
    pub async fn stream_exists(&self) -> Result<bool, BusError> {
        match self.js.get_stream(self.subjects.stream_name()).await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    async_nats::jetstream::context::GetStreamErrorKind::JetStream(ref j)
                        if j.error_code() == ErrorCode::STREAM_NOT_FOUND
                ) =>
            {
                Ok(false)
            }
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

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Disconnections and dropped messages, as they happen.
    pub fn connection_events(&self) -> tokio::sync::broadcast::Receiver<ConnectionEvent> {
        self.events.subscribe()
    }

    /// How many times the connection was (re)established. If it changed across a stretch of
    /// publishes, some of them may never have reached the server.
    pub fn connects(&self) -> u64 {
        self.client
            .statistics()
            .connects
            .load(std::sync::atomic::Ordering::Relaxed)
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

    pub fn subjects(&self) -> &Subjects {
        &self.subjects
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

    /// The durable pull consumer of a role (`fanout`, a projection), over every event, acked
    /// cumulatively. Created when missing, starting at `start`.
    pub async fn durable(
        &self,
        role: &str,
        start: DeliverPolicy,
    ) -> Result<consumer::Consumer<pull::Config>, BusError> {
        self.durable_of(role, start, self.subjects.all_events(), ACK_WAIT)
            .await
    }

    /// Like [`Bus::durable`], over the events on `filter` only, redelivered when not acked
    /// within `ack_wait`.
    pub async fn durable_of(
        &self,
        role: &str,
        start: DeliverPolicy,
        filter: String,
        ack_wait: Duration,
    ) -> Result<consumer::Consumer<pull::Config>, BusError> {
        let name = self.subjects.consumer(role);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: filter,
            ack_policy: AckPolicy::All,
            deliver_policy: start,
            ack_wait,
            max_ack_pending: 20_000,
            ..Default::default()
        };
        self.stream()?
            .get_or_create_consumer(&name, config)
            .await
            .map_err(|e| BusError::unavailable(format!("consumer {name}: {e}")))
    }

    /// (Re)creates a role's durable consumer so that it delivers from `start_seq` on. Used at
    /// start: with cumulative acks, messages a dead instance had received but not acked would
    /// otherwise be acked by the next instance's first ack without ever being handled.
    pub async fn durable_at(
        &self,
        role: &str,
        start_seq: u64,
    ) -> Result<consumer::Consumer<pull::Config>, BusError> {
        self.durable_at_of(role, start_seq, self.subjects.all_events(), ACK_WAIT)
            .await
    }

    /// Like [`Bus::durable_at`], as [`Bus::durable_of`].
    pub async fn durable_at_of(
        &self,
        role: &str,
        start_seq: u64,
        filter: String,
        ack_wait: Duration,
    ) -> Result<consumer::Consumer<pull::Config>, BusError> {
        self.delete_durable(role).await?;
        let start = DeliverPolicy::ByStartSequence {
            start_sequence: start_seq.max(1),
        };
        self.durable_of(role, start, filter, ack_wait).await
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

    /// Where a role's durable consumer stands: `(acked through, pending)`, or `None` when it does
    /// not exist.
    pub async fn durable_position(&self, role: &str) -> Result<Option<(u64, u64)>, BusError> {
        let name = self.subjects.consumer(role);
        match self.stream()?.consumer_info(&name).await {
            Ok(info) => Ok(Some((info.ack_floor.stream_sequence, info.num_pending))),
            Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => Ok(None),
            Err(e) => Err(BusError::unavailable(format!("consumer {name}: {e}"))),
        }
    }

    /// Deletes a role's durable consumer (to restart it elsewhere in the log).
    pub async fn delete_durable(&self, role: &str) -> Result<(), BusError> {
        let name = self.subjects.consumer(role);
        match self.stream()?.delete_consumer(&name).await {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(e.kind(), ConsumerErrorKind::JetStream(ref j)
                    if j.error_code() == ErrorCode::CONSUMER_NOT_FOUND) =>
            {
                Ok(())
            }
            Err(e) => Err(BusError::unavailable(format!(
                "delete consumer {name}: {e}"
            ))),
        }
    }

    /// Every event from `start` on, in log order, each once, through a [`Reader`]: no acks,
    /// and made again where it left off when its consumer is lost. Replays read the log with
    /// it; where a replay stands is the reader's business (a projection's checkpoint).
    pub async fn read_from(&self, start: u64) -> Result<Reader, BusError> {
        Ok(self
            .read_filtered(self.subjects.all_events(), start)
            .await?
            .0)
    }

    /// Like [`Bus::read_from`], only the events on subjects matching `filter` (such as
    /// [`Subjects::room_events`]); also returns how many of them the log held at the start.
    pub async fn read_filtered(
        &self,
        filter: String,
        start: u64,
    ) -> Result<(Reader, u64), BusError> {
        Reader::open(self.stream()?.clone(), self.watch.clone(), filter, start).await
    }

    /// Publishes on core NATS (not stored): deliveries, checkpoints.
    pub async fn notify(
        &self,
        subject: String,
        headers: Option<async_nats::HeaderMap>,
        payload: Bytes,
    ) -> Result<(), BusError> {
        let result = match headers {
            Some(h) => self.client.publish_with_headers(subject, h, payload).await,
            None => self.client.publish(subject, payload).await,
        };
        result.map_err(|e| BusError::new(BusErrorKind::Unavailable, e))
    }

    /// Waits until everything published so far has reached the server.
    pub async fn flush(&self) -> Result<(), BusError> {
        self.client.flush().await.map_err(BusError::unavailable)
    }
}
