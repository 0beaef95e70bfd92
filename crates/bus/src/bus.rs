//! The bus: the `Bus` type, its connection to NATS, and core NATS notifications (fan-out
//! deliveries and their headers). What it does with JetStream lives beside it: the log itself
//! in `log.rs`, appends in `append.rs`, role consumers in `consumers.rs`, readers in
//! `reader.rs`, room replays in `replay/`, batched reading in `batches.rs`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::jetstream::stream;
use async_nats::jetstream::{self, Context};
use async_nats::{Client, ConnectOptions};
use bytes::Bytes;
use natter_common::config::Connections;

use crate::connection::ConnectionEvent;
use crate::error::{BusError, BusErrorKind};
use crate::subjects::Subjects;

/// The header on fan-out deliveries that carries the event's stream sequence.
pub const SEQ_HEADER: &str = "Natter-Seq";
/// The header on fan-out deliveries that carries the seq of the room's previous event (when
/// the fan-out knows it), so that a gateway notices a delivery it never got.
pub const PREV_SEQ_HEADER: &str = "Natter-Prev-Seq";
/// The header on a message to a user's delivery subject that is no event but a server frame,
/// ready to pass on to the user's sockets as it is (call signalling).
pub const FRAME_HEADER: &str = "Natter-Frame";

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

/// The NATS connection, the event stream and the subjects of one namespace. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    pub(crate) client: Client,
    pub(crate) events: tokio::sync::broadcast::Sender<ConnectionEvent>,
    /// How many times the connection dropped: appends waiting for an ack give up on a drop.
    pub(crate) drops: Arc<tokio::sync::watch::Sender<u64>>,
    pub(crate) js: Context,
    pub(crate) subjects: Subjects,
    pub(crate) stream: Arc<OnceLock<stream::Stream>>,
    pub(crate) epoch: Arc<OnceLock<String>>,
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

    pub fn subjects(&self) -> &Subjects {
        &self.subjects
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
