//! The log, read in stretches: from a seq on, decoded (and unsealed) on a task of its own, one
//! stretch ahead of whoever applies them.

use futures::{FutureExt, StreamExt};
use natter_bus::{Bus, BusError};
use natter_common::Shutdown;
use natter_schemas::Event;
use tokio::sync::mpsc;

/// A contiguous stretch of the log, seqs `from..=through`, with its decodable events.
#[derive(Debug)]
pub struct Stretch {
    pub from: u64,
    pub through: u64,
    pub events: Vec<(u64, Event)>,
}

/// Where a replay stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Never: keep applying new events as they are appended (the live projector).
    Forever,
    /// Once the checkpoint reaches this seq. Stretches are cut there, so the read model ends
    /// exactly at it.
    Seq(u64),
}

impl Until {
    fn limit(self) -> u64 {
        match self {
            Self::Forever => u64::MAX,
            Self::Seq(seq) => seq,
        }
    }
}

/// Reads the log from a seq on, decoding on its own task, in stretches of at most `max`
/// events: whatever is already buffered, so that batches grow under load and a single event
/// goes through at once when idle.
pub struct LogReader {
    stretches: mpsc::Receiver<Result<Stretch, BusError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LogReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LogReader {
    /// Events are unsealed as they are read when `bus` has an unsealer (a vault).
    pub async fn open(
        bus: &Bus,
        start: u64,
        until: Until,
        max: usize,
        label: &'static str,
    ) -> Result<Self, BusError> {
        let mut messages = bus.read_from(start).await?;
        let bus_for_keys = bus.clone();
        let max = max.max(1);
        let limit = until.limit();
        let (tx, stretches) = mpsc::channel(2);
        let task = tokio::spawn(async move {
            let mut next = start;
            // Only the first delivery may skip ahead: past the start, the log has no holes.
            let mut first = true;
            while next <= limit {
                let mut stretch = Stretch {
                    from: next,
                    through: next.saturating_sub(1),
                    events: Vec::with_capacity(max.min(4096)),
                };
                let mut waited = false;
                while stretch.through < limit && (stretch.through + 1 - stretch.from) < max as u64 {
                    let item = if waited {
                        match messages.next().now_or_never() {
                            Some(item) => item,
                            None => break,
                        }
                    } else {
                        waited = true;
                        messages.next().await
                    };
                    let message = match item {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => {
                            let _ = tx
                                .send(Err(BusError::unavailable(format!("reader: {e}"))))
                                .await;
                            return;
                        }
                        None => {
                            let _ = tx.send(Err(BusError::unavailable("reader ended"))).await;
                            return;
                        }
                    };
                    let seq = match message.info() {
                        Ok(info) => info.stream_sequence,
                        Err(e) => {
                            let _ = tx
                                .send(Err(BusError::other(format!("message info: {e}"))))
                                .await;
                            return;
                        }
                    };
                    if seq != stretch.through + 1 {
                        // Events older than the log's first seq aged out: start where it
                        // starts (the stretch says so: it covers the seqs that are gone).
                        if first && seq > stretch.from {
                            tracing::error!(
                                reader = label,
                                wanted = stretch.from,
                                first = seq,
                                "events are gone from the log; the read model misses them"
                            );
                            if seq > limit {
                                stretch.through = limit;
                                let _ = tx.send(Ok(stretch)).await;
                                return;
                            }
                            stretch.through = seq - 1;
                        } else {
                            let _ = tx
                                .send(Err(BusError::other(format!(
                                    "reader: seq {seq} after {}",
                                    stretch.through
                                ))))
                                .await;
                            return;
                        }
                    }
                    first = false;
                    stretch.through = seq;
                    match Event::from_bytes(&message.payload) {
                        Ok(event) => stretch.events.push((seq, event)),
                        Err(e) => {
                            // An event this version cannot read (a newer writer, or
                            // corruption). It is skipped, loudly, rather than halting every
                            // read model behind it.
                            metrics::counter!("natter_projection_undecodable_events_total", "projection" => label).increment(1);
                            tracing::error!(reader = label, seq, error = %e, "skipping undecodable event");
                        }
                    }
                }
                next = stretch.through + 1;
                if let Err(e) = bus_for_keys.unseal_all(&mut stretch.events).await {
                    let _ = tx
                        .send(Err(BusError::unavailable(format!("unseal: {e}"))))
                        .await;
                    return;
                }
                if tx.send(Ok(stretch)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Self { stretches, task })
    }

    /// The next stretch; `None` once the reader reached its `until`.
    pub async fn next(&mut self) -> Option<Result<Stretch, BusError>> {
        self.stretches.recv().await
    }

    /// Group commit: extends `stretch` with the stretches that arrive until `deadline`, up to
    /// `max` events in all.
    pub async fn gather(
        &mut self,
        stretch: &mut Stretch,
        deadline: tokio::time::Instant,
        max: usize,
        shutdown: &Shutdown,
    ) -> Gathered {
        while stretch.through + 1 - stretch.from < max as u64 {
            tokio::select! {
                () = shutdown.wait() => return Gathered::Shutdown,
                () = tokio::time::sleep_until(deadline) => break,
                next = self.next() => match next {
                    Some(Ok(next)) => stretch.extend(next),
                    other => return Gathered::Held(other),
                },
            }
        }
        Gathered::Done
    }
}

/// How [`LogReader::gather`] ended.
pub enum Gathered {
    /// The deadline passed, or the stretch is full.
    Done,
    /// The reader failed or ended meanwhile: what it said, to be handled after this stretch.
    Held(Option<Result<Stretch, BusError>>),
    Shutdown,
}

impl Stretch {
    /// This stretch and the one right after it, as one.
    pub fn extend(&mut self, next: Stretch) {
        debug_assert_eq!(next.from, self.through + 1);
        self.through = next.through;
        self.events.extend(next.events);
    }
}
