//! A worker's loop over a durable consumer of part of the log: each batch handled, then acked
//! cumulatively (the worker's checkpoint); a batch that fails is read again from the last ack.
//! The link preview worker and the push hook run on it.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::DeliverPolicy;
use natter_common::{Ready, Shutdown};

use crate::{Batches, Bus, BusError, Next, ack_through, seq_of};

/// What a worker reads: its role (the consumer's name), the events on `filter`, `batch` at a
/// time, each batch redelivered unless acked within `ack_wait`. A new deployment starts at the
/// log's end.
pub struct WorkerConsumer {
    pub role: &'static str,
    pub filter: String,
    pub ack_wait: Duration,
    pub batch: usize,
}

impl WorkerConsumer {
    /// Handles batches with `handle(batch, handled_through)` until `shutdown` (`ready` told
    /// once the consumer is open). `handled_through` is the last seq handled in this run: a
    /// redelivery of it (after a slow batch) is for the handler to skip.
    pub async fn run<F, Fut, E>(
        &self,
        bus: &Bus,
        shutdown: &Shutdown,
        ready: Ready,
        mut handle: F,
    ) -> Result<(), BusError>
    where
        F: FnMut(Vec<Message>, u64) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut batches = self.open(bus).await?;
        let mut handled_through = 0u64;
        tracing::info!(role = self.role, "worker started");
        ready.started();
        loop {
            let messages = match batches.next_or_stop(shutdown, self.role).await {
                Next::Batch(messages) => messages,
                Next::Stop => break,
                Next::Reopen => {
                    batches = self.open(bus).await?;
                    continue;
                }
            };
            let last = messages.last().cloned();
            let handled = tokio::select! {
                handled = handle(messages, handled_through) => handled.map_err(|e| e.to_string()),
                () = shutdown.wait() => break,
            };
            let acked = match (handled, last) {
                (Ok(()), Some(last)) => {
                    if let Ok(seq) = seq_of(&last) {
                        handled_through = handled_through.max(seq);
                    }
                    ack_through(&last).await.map_err(|e| e.to_string())
                }
                (Ok(()), None) => Ok(()),
                (Err(e), _) => Err(e),
            };
            if let Err(e) = acked {
                tracing::warn!(role = self.role, error = %e, "batch not finished; reading it again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                batches = self.open(bus).await?;
            }
        }
        tracing::info!(role = self.role, "worker stopped");
        Ok(())
    }

    /// The consumer, just after its last ack (one filter subject: nats-server 2.9).
    async fn open(&self, bus: &Bus) -> Result<Batches, BusError> {
        let filter = self.filter.clone();
        let consumer = match bus.durable_position(self.role).await? {
            Some((acked, _)) => {
                bus.durable_at_of(self.role, acked + 1, filter, self.ack_wait)
                    .await?
            }
            None => {
                bus.durable_of(self.role, DeliverPolicy::New, filter, self.ack_wait)
                    .await?
            }
        };
        Ok(Batches::new(&consumer, self.batch)
            .await?
            .reopen_on_reconnect(bus.connection_events()))
    }
}
