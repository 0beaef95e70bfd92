//! Batched reading of a durable consumer (the fan-out worker's).

use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::{self, pull};
use futures::{FutureExt, StreamExt};

use crate::connection::{ConnectionEvent, reconnected};
use crate::error::BusError;

/// Yields what is ready, in log order: waits for the first message, then takes every further
/// one already buffered, up to `max`. Under load batches grow; when idle a single event goes
/// through at once.
pub struct Batches {
    messages: pull::Stream,
    max: usize,
    /// When given: the connection came back, so reopen (see [`Batches::reopen_on_reconnect`]).
    connection: Option<tokio::sync::broadcast::Receiver<ConnectionEvent>>,
}

impl Batches {
    pub async fn new(
        consumer: &consumer::Consumer<pull::Config>,
        max: usize,
    ) -> Result<Self, BusError> {
        let messages = consumer
            .stream()
            .max_messages_per_batch(max.max(1))
            // A pull lost with its consumer's leader (a node gone, a leader elected) is noticed
            // by a missed heartbeat within seconds, and pulled again.
            .expires(std::time::Duration::from_secs(5))
            .heartbeat(std::time::Duration::from_secs(2))
            .messages()
            .await
            .map_err(|e| BusError::unavailable(format!("consumer stream: {e}")))?;
        Ok(Self {
            messages,
            max,
            connection: None,
        })
    }

    /// [`Batches::next_or_stop`] answers [`Next::Reopen`] once the connection comes back
    /// after a drop (`events` from [`crate::Bus::connection_events`]): a pull request lost
    /// with a restarted server is otherwise only noticed when it expires.
    pub fn reopen_on_reconnect(
        mut self,
        events: tokio::sync::broadcast::Receiver<ConnectionEvent>,
    ) -> Self {
        self.connection = Some(events);
        self
    }

    /// The next batch; `None` when the consumer stream ended.
    pub async fn next(&mut self) -> Option<Result<Vec<Message>, BusError>> {
        next_batch(&mut self.messages, self.max).await
    }
}

async fn next_batch(
    messages: &mut pull::Stream,
    max: usize,
) -> Option<Result<Vec<Message>, BusError>> {
    let first = match messages.next().await? {
        Ok(m) => m,
        Err(e) => return Some(Err(BusError::unavailable(format!("consumer: {e}")))),
    };
    let mut batch = vec![first];
    while batch.len() < max {
        match messages.next().now_or_never() {
            Some(Some(Ok(m))) => batch.push(m),
            Some(Some(Err(e))) => {
                tracing::warn!(error = %e, "consumer stream error inside a batch");
                break;
            }
            Some(None) | None => break,
        }
    }
    Some(Ok(batch))
}

/// What a role's loop does next.
pub enum Next {
    Batch(Vec<Message>),
    /// The consumer stream ended: open it again.
    Reopen,
    /// Shutdown was triggered.
    Stop,
}

impl Batches {
    /// The next batch, or what to do instead. Transient consumer errors are logged and
    /// retried after a short pause.
    pub async fn next_or_stop(&mut self, shutdown: &natter_common::Shutdown, role: &str) -> Next {
        loop {
            let Self {
                messages,
                max,
                connection,
            } = self;
            let reconnected = async {
                match connection.as_mut() {
                    Some(events) => reconnected(events).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let batch = tokio::select! {
                () = shutdown.wait() => return Next::Stop,
                () = reconnected => {
                    tracing::info!(role, "NATS is back: reading the consumer again");
                    return Next::Reopen;
                }
                batch = next_batch(messages, *max) => batch,
            };
            match batch {
                Some(Ok(batch)) => return Next::Batch(batch),
                Some(Err(e)) => {
                    tracing::warn!(role, error = %e, "consumer error, retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                None => {
                    tracing::warn!(role, "consumer stream ended, reopening");
                    return Next::Reopen;
                }
            }
        }
    }
}

/// The stream sequence of a delivered message.
pub fn seq_of(message: &Message) -> Result<u64, BusError> {
    message
        .info()
        .map(|i| i.stream_sequence)
        .map_err(|e| BusError::other(format!("message info: {e}")))
}

/// Acks `last` and, because role consumers ack cumulatively, every message before it.
pub async fn ack_through(last: &Message) -> Result<(), BusError> {
    last.ack()
        .await
        .map_err(|e| BusError::unavailable(format!("ack: {e}")))
}
