//! A worker that handles each event of its consumer on its own, as soon as it comes: at most
//! `concurrency` at once, and at most `share` of them for one key (the link preview worker's
//! key is the sender), so that one key's slow work holds up nobody else's. Acked cumulatively
//! up to the lowest event not finished: the checkpoint never passes work still to do, so a
//! crash handles again what was in flight (and what finished after it), never less.
//!
//! The consumer is read by a task of its own that hands batches over a channel: a read cut
//! short by `select!` would drop messages it had taken, which the next cumulative ack would
//! then acknowledge unhandled.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::hash::Hash;

use async_nats::jetstream::Message;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use natter_common::{Ready, Shutdown};
use natter_schemas::Event;
use tokio::sync::mpsc;

use crate::{Batches, Bus, BusError, Next, WorkerConsumer, ack_through, seq_of};

/// How much of the work one key may take.
#[derive(Debug, Clone, Copy)]
pub struct Fair {
    /// Events handled at once.
    pub concurrency: usize,
    /// Of those, at most this many of one key.
    pub share: usize,
    /// Events read ahead and waiting for a turn.
    pub ahead: usize,
}

/// Why a run over one opening of the consumer ended.
enum Ended {
    Stop,
    Reopen,
    Failed(String),
}

/// Events read and not acked yet, by seq: the latest delivery of each (`D`, what is acked) and
/// which of them are done. What it says to ack never passes an event not done.
struct Checkpoint<D> {
    pending: BTreeMap<u64, D>,
    finished: BTreeSet<u64>,
    /// Everything at or below was handled in this run.
    handled_through: u64,
}

/// What to do with a delivery ([`Checkpoint::read`]).
#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// A new event: handle it.
    New,
    /// Handled already, or in hand (a redelivery: its latest delivery is kept for the ack).
    Known,
}

impl<D> Default for Checkpoint<D> {
    fn default() -> Self {
        Self {
            pending: BTreeMap::new(),
            finished: BTreeSet::new(),
            handled_through: 0,
        }
    }
}

impl<D> Checkpoint<D> {
    fn read(&mut self, seq: u64, delivery: D) -> Delivery {
        if seq <= self.handled_through {
            return Delivery::Known;
        }
        match self.pending.insert(seq, delivery) {
            Some(_) => Delivery::Known,
            None => Delivery::New,
        }
    }

    fn finish(&mut self, seq: u64) {
        self.finished.insert(seq);
    }

    /// The delivery to ack through: the last of the longest run of finished events at the
    /// start of what is pending (None when the first pending event is not done).
    fn advance(&mut self) -> Option<D> {
        let mut last = None;
        while let Some(entry) = self.pending.first_entry() {
            if !self.finished.remove(entry.key()) {
                break;
            }
            let (seq, delivery) = entry.remove_entry();
            self.handled_through = seq;
            last = Some(delivery);
        }
        last
    }

    /// The consumer is read again from its ack floor: what was read and not acked comes again.
    fn forget(&mut self) {
        self.pending.clear();
        self.finished.clear();
    }
}

/// Acks what the checkpoint says may be acked.
async fn ack(checkpoint: &mut Checkpoint<Message>) -> Result<(), BusError> {
    match checkpoint.advance() {
        Some(message) => ack_through(&message).await,
        None => Ok(()),
    }
}

impl WorkerConsumer {
    /// Handles each event with `handle(seq, event)` as [`Fair`] allows, keyed by `key`, until
    /// `shutdown`; a failed event (or ack) reads the consumer again from the last ack.
    pub async fn run_fair<K, KF, F, Fut, E>(
        &self,
        bus: &Bus,
        shutdown: &Shutdown,
        ready: Ready,
        fair: Fair,
        key: KF,
        handle: F,
    ) -> Result<(), BusError>
    where
        K: Eq + Hash + Clone,
        KF: Fn(&Event) -> K,
        F: Fn(u64, Event) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut checkpoint = Checkpoint::<Message>::default();
        let mut ready = Some(ready);
        tracing::info!(role = self.role, "worker started");
        loop {
            let batches = self.open(bus).await?;
            if let Some(ready) = ready.take() {
                ready.started();
            }
            let (tx, mut rx) = mpsc::channel(1);
            let reader = tokio::spawn(read(batches, shutdown.clone(), self.role, tx));
            let ended = self
                .schedule(bus, shutdown, fair, &key, &handle, &mut rx, &mut checkpoint)
                .await;
            reader.abort();
            checkpoint.forget();
            match ended {
                Ended::Stop => break,
                Ended::Reopen => {}
                Ended::Failed(e) => {
                    tracing::warn!(role = self.role, error = %e, "not finished; reading it again");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
        tracing::info!(role = self.role, "worker stopped");
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn schedule<K, KF, F, Fut, E>(
        &self,
        bus: &Bus,
        shutdown: &Shutdown,
        fair: Fair,
        key: &KF,
        handle: &F,
        batches: &mut mpsc::Receiver<Next>,
        checkpoint: &mut Checkpoint<Message>,
    ) -> Ended
    where
        K: Eq + Hash + Clone,
        KF: Fn(&Event) -> K,
        F: Fn(u64, Event) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut waiting: VecDeque<(u64, K, Event)> = VecDeque::new();
        let mut load: HashMap<K, usize> = HashMap::new();
        let mut running = FuturesUnordered::new();
        loop {
            // Start what may start, oldest first, skipping keys at their share.
            let mut i = 0;
            while running.len() < fair.concurrency.max(1) && i < waiting.len() {
                let busy = load.get(&waiting[i].1).copied().unwrap_or(0);
                if busy >= fair.share.max(1) {
                    i += 1;
                    continue;
                }
                let Some((seq, k, event)) = waiting.remove(i) else {
                    break;
                };
                *load.entry(k.clone()).or_default() += 1;
                let job = handle(seq, event);
                running.push(async move { (seq, k, job.await) });
            }
            tokio::select! {
                () = shutdown.wait() => return Ended::Stop,
                Some((seq, k, done)) = running.next() => {
                    if let Some(n) = load.get_mut(&k) {
                        *n = n.saturating_sub(1);
                    }
                    if let Err(e) = done {
                        return Ended::Failed(format!("seq {seq}: {e}"));
                    }
                    checkpoint.finish(seq);
                    if let Err(e) = ack(checkpoint).await {
                        return Ended::Failed(e.to_string());
                    }
                }
                next = batches.recv(), if waiting.len() < fair.ahead.max(1) => {
                    let messages = match next {
                        Some(Next::Batch(messages)) => messages,
                        Some(Next::Stop) => return Ended::Stop,
                        Some(Next::Reopen) | None => return Ended::Reopen,
                    };
                    for message in messages {
                        match self.take(bus, message, checkpoint).await {
                            Ok(Some((seq, event))) => waiting.push_back((seq, key(&event), event)),
                            Ok(None) => {}
                            Err(e) => return Ended::Failed(e),
                        }
                    }
                    if let Err(e) = ack(checkpoint).await {
                        return Ended::Failed(e.to_string());
                    }
                }
            }
        }
    }

    /// A delivered message: its event to handle, or None when there is nothing to do (handled
    /// already, a redelivery of one in hand, or undecodable: done at once).
    async fn take(
        &self,
        bus: &Bus,
        message: Message,
        checkpoint: &mut Checkpoint<Message>,
    ) -> Result<Option<(u64, Event)>, String> {
        let seq = seq_of(&message).map_err(|e| e.to_string())?;
        let payload = message.payload.clone();
        if checkpoint.read(seq, message) == Delivery::Known {
            return Ok(None);
        }
        match Event::from_bytes(&payload) {
            Ok(mut event) => {
                bus.unseal(&mut event)
                    .await
                    .map_err(|e| format!("unseal: {e}"))?;
                Ok(Some((seq, event)))
            }
            Err(e) => {
                tracing::warn!(role = self.role, seq, error = %e, "undecodable event skipped");
                checkpoint.finish(seq);
                Ok(None)
            }
        }
    }
}

/// Reads the consumer and hands each batch on, until told to stop or the receiver is gone.
async fn read(
    mut batches: Batches,
    shutdown: Shutdown,
    role: &'static str,
    tx: mpsc::Sender<Next>,
) {
    loop {
        let next = batches.next_or_stop(&shutdown, role).await;
        let last = !matches!(next, Next::Batch(_));
        if tx.send(next).await.is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events finished out of order are acked only up to the first one not done; a crash
    /// (forget) leaves what was not acked to be read again, and what was acked is not handled
    /// twice; a redelivery in hand is not handled again, its latest delivery acked.
    #[test]
    fn the_checkpoint_never_passes_work_not_done() {
        let mut c = Checkpoint::default();
        for seq in [3, 5, 7, 9] {
            assert_eq!(c.read(seq, format!("d{seq}")), Delivery::New);
        }
        c.finish(5);
        c.finish(7);
        assert_eq!(c.advance(), None, "3 is not done");
        c.finish(3);
        assert_eq!(
            c.advance().as_deref(),
            Some("d7"),
            "3, 5 and 7 are done, 9 is not"
        );
        assert_eq!(c.read(9, "d9 again".into()), Delivery::Known, "in hand");
        c.finish(9);
        assert_eq!(c.advance().as_deref(), Some("d9 again"));
        assert_eq!(c.read(11, "d11".into()), Delivery::New);
        c.forget();
        assert_eq!(
            c.read(7, "d7".into()),
            Delivery::Known,
            "acked: not handled twice"
        );
        assert_eq!(
            c.read(11, "d11".into()),
            Delivery::New,
            "not acked: read again"
        );
    }
}
