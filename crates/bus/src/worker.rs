//! A worker's loop over a durable consumer of part of the log: each batch handled, then acked
//! cumulatively (the worker's checkpoint); a batch that fails is read again from the last ack.
//! The push hook runs on it; the link preview worker on its fair form ([`crate::pipeline`]).

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::DeliverPolicy;
use natter_common::{Ready, Shutdown};
use natter_schemas::Event;

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
    /// Handles batches with `handle(events)` until `shutdown` (`ready` told once the consumer
    /// is open). Each batch's events come decoded and unsealed, with their seqs; events already
    /// handled in this run (redelivered after a slow batch) are left out, undecodable ones
    /// logged and skipped.
    pub async fn run<F, Fut, E>(
        &self,
        bus: &Bus,
        shutdown: &Shutdown,
        ready: Ready,
        mut handle: F,
    ) -> Result<(), BusError>
    where
        F: FnMut(Vec<(u64, Event)>) -> Fut,
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
                handled = async {
                    let events = self.read(bus, &messages, handled_through).await?;
                    handle(events).await.map_err(|e| e.to_string())
                } => handled,
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

    /// The batch's events after `handled_through`, decoded and unsealed.
    async fn read(
        &self,
        bus: &Bus,
        messages: &[Message],
        handled_through: u64,
    ) -> Result<Vec<(u64, Event)>, String> {
        let mut events = Vec::with_capacity(messages.len());
        for message in messages {
            let seq = match seq_of(message) {
                Ok(seq) if seq <= handled_through => continue,
                Ok(seq) => seq,
                Err(e) => {
                    tracing::warn!(role = self.role, error = %e, "no seq; skipped");
                    continue;
                }
            };
            match Event::from_bytes(&message.payload) {
                Ok(mut event) => {
                    bus.unseal(&mut event)
                        .await
                        .map_err(|e| format!("unseal: {e}"))?;
                    events.push((seq, event));
                }
                Err(e) => {
                    tracing::warn!(role = self.role, seq, error = %e, "undecodable event skipped");
                }
            }
        }
        Ok(events)
    }

    /// The consumer, just after its last ack (one filter subject: nats-server 2.9), asked
    /// again while NATS does not answer ([`crate::within_bound`]).
    pub(crate) async fn open(&self, bus: &Bus) -> Result<Batches, BusError> {
        crate::within_bound(&format!("the {} consumer", self.role), || {
            self.open_once(bus)
        })
        .await
    }

    async fn open_once(&self, bus: &Bus) -> Result<Batches, BusError> {
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
