//! Reading the log in order from a seq on, without acks: an ephemeral consumer (one replica,
//! in memory) that the reader makes again itself, where it left off, whenever it is lost.
//!
//! Such a consumer lives on one node. It is lost with that node, with a stream leader's
//! election, or with the connection; the reader notices a missed idle heartbeat within
//! [`HEARTBEAT`] x 2, or the server saying so, and makes a new one from the seq after the last
//! it handed on, asking again from 100 ms, doubling to 1 s, for up to [`RECOVERY_BOUND`]: a
//! read model or a follower catches up within a second or two of the cluster answering again.
//! (async-nats's own ordered consumer does the same, but its tries back off to 10 s each, so a
//! read model could stay behind for half a minute after an election.) Every message is checked
//! against the consumer's own sequence: a gap makes the consumer again from the last seq read,
//! so nothing is skipped or handed on twice.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream;
use futures::StreamExt;
use tokio::sync::mpsc;

use std::sync::Arc;

use crate::bus::Bus;
use crate::error::{BusError, BusErrorKind};
use crate::recovery::RECOVERY_BOUND;
use crate::watch::Watch;

/// The idle heartbeat asked on each pull: a consumer gone quiet is made again after two.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// The longest pull (the server holds it open this long when there is nothing to read).
const EXPIRES: Duration = Duration::from_secs(4);
/// How many messages a pull asks for at once.
const BATCH: usize = 500;
/// How many read messages wait for the reader's owner.
const BUFFERED: usize = 1024;
/// The longest one try to make a consumer may take. Until the cluster marks a node just lost
/// as offline (seconds), it may still be given the consumer and never answer; a second try is
/// most likely placed on a node that is up, and answers sooner than the client's 10 s timeout.
const CREATE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long [`Reader::open`] tries to make its first consumer before the caller hears
/// `unavailable`.
const OPEN_BOUND: Duration = Duration::from_secs(8);

/// The log's events on a filter from a seq on, in order, each once; a [`futures::Stream`] of
/// messages that ends with an error only when JetStream has not answered for
/// [`RECOVERY_BOUND`].
pub struct Reader {
    messages: mpsc::Receiver<Result<Message, BusError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl futures::Stream for Reader {
    type Item = Result<Message, BusError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.messages.poll_recv(cx)
    }
}

/// One consumer of the reader's, and where it stands.
struct Consumer {
    messages: pull::Stream,
    name: String,
    /// The consumer sequence of the last message handed on (0: none yet).
    delivered: u64,
}

/// What the reader asks of the stream.
struct Wanted {
    stream: stream::Stream,
    /// No consumer is made on a log that is not the one the process started on.
    watch: Arc<Watch>,
    filter: String,
    /// The first stream seq not yet handed on.
    next: u64,
}

impl Wanted {
    /// One try, for at most `timeout`.
    async fn create(&self, timeout: Duration) -> Result<(Consumer, u64), BusError> {
        let config: pull::Config = pull::OrderedConfig {
            filter_subject: self.filter.clone(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: self.next.max(1),
            },
            max_expires: EXPIRES,
            ..Default::default()
        }
        .into();
        self.watch.refuse_if_lost()?;
        let created = async {
            let consumer = self
                .stream
                .create_consumer(config)
                .await
                .map_err(|e| BusError::unavailable(format!("reader at {}: {e}", self.next)))?;
            let info = consumer.cached_info();
            let (name, pending) = (info.name.clone(), info.num_pending);
            let messages = consumer
                .stream()
                .max_messages_per_batch(BATCH)
                .expires(EXPIRES)
                .heartbeat(HEARTBEAT)
                .messages()
                .await
                .map_err(|e| BusError::unavailable(format!("reader at {}: {e}", self.next)))?;
            Ok((
                Consumer {
                    messages,
                    name,
                    delivered: 0,
                },
                pending,
            ))
        };
        tokio::time::timeout(timeout, created)
            .await
            .map_err(|_| BusError::unavailable(format!("reader at {}: timed out", self.next)))?
    }

    /// Makes the consumer again from `next`, asking until JetStream answers or
    /// [`RECOVERY_BOUND`] has passed. The lost one is deleted on the side (it would expire
    /// anyway once idle).
    async fn recreate(&self, lost: &str, why: &str) -> Result<Consumer, BusError> {
        let stream = self.stream.clone();
        let lost = lost.to_owned();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CREATE_TIMEOUT, stream.delete_consumer(&lost)).await;
        });
        tracing::info!(filter = %self.filter, at = self.next, why, "making the log reader again");
        let started = Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            match self.create(CREATE_TIMEOUT).await {
                Ok((consumer, _)) => {
                    tracing::info!(filter = %self.filter, at = self.next, after = ?started.elapsed(), "log reader made again");
                    return Ok(consumer);
                }
                Err(e) if e.kind == BusErrorKind::Lost => {
                    // Said where it was found; nothing to read until a restart.
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Err(e) if started.elapsed() + wait < RECOVERY_BOUND => {
                    tracing::debug!(error = %e, retry_in = ?wait, "log reader not made yet");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    return Err(BusError::unavailable(format!(
                        "{} (for {:?})",
                        e.message,
                        started.elapsed()
                    )));
                }
            }
        }
    }
}

impl Reader {
    /// Starts reading `filter` on `stream` from seq `start`; also returns how many matching
    /// events the log held then.
    pub(crate) async fn open(
        stream: stream::Stream,
        watch: Arc<Watch>,
        filter: String,
        start: u64,
    ) -> Result<(Self, u64), BusError> {
        let wanted = Wanted {
            stream,
            watch,
            filter,
            next: start.max(1),
        };
        let started = Instant::now();
        let mut wait = Duration::from_millis(100);
        let (consumer, pending) = loop {
            match wanted.create(CREATE_TIMEOUT).await {
                Ok(made) => break made,
                Err(e)
                    if e.kind == BusErrorKind::Unavailable
                        && started.elapsed() + wait + CREATE_TIMEOUT < OPEN_BOUND =>
                {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        };
        let (tx, messages) = mpsc::channel(BUFFERED);
        let task = tokio::spawn(read(wanted, consumer, tx));
        Ok((Self { messages, task }, pending))
    }
}

/// Hands on every message in order until the owner goes away or the consumer cannot be made
/// again within the bound (the error is the last thing handed on).
async fn read(
    mut wanted: Wanted,
    mut consumer: Consumer,
    tx: mpsc::Sender<Result<Message, BusError>>,
) {
    loop {
        let trouble = match consumer.messages.next().await {
            Some(Ok(message)) => match message.info() {
                Ok(info) if info.consumer_sequence == consumer.delivered + 1 => {
                    consumer.delivered = info.consumer_sequence;
                    wanted.next = info.stream_sequence + 1;
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(_) => "a gap in the consumer's sequence".to_owned(),
                Err(e) => format!("message info: {e}"),
            },
            Some(Err(e)) => e.to_string(),
            None => "the consumer's stream ended".to_owned(),
        };
        consumer = match wanted.recreate(&consumer.name, &trouble).await {
            Ok(again) => again,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
    }
}

impl Bus {
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
    /// [`crate::Subjects::room_events`]); also returns how many of them the log held at the start.
    pub async fn read_filtered(
        &self,
        filter: String,
        start: u64,
    ) -> Result<(Reader, u64), BusError> {
        Reader::open(self.stream()?.clone(), self.watch.clone(), filter, start).await
    }
}
