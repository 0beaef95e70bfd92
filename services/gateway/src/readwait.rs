//! Read-your-writes: wait (bounded) until a projection has applied a given seq.
//!
//! Projectors announce their checkpoint on `<ns>.proj.<name>` after every commit; this keeps the
//! newest value in a watch channel. A slow poll of the checkpoint row covers announcements that
//! were lost (core NATS is at-most-once) or sent before this gateway started.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use natter_bus::Bus;
use natter_common::Shutdown;
use sqlx::PgPool;
use tokio::sync::watch;

#[derive(Clone)]
pub struct ProjectionWatch {
    rx: watch::Receiver<u64>,
    tx: Arc<watch::Sender<u64>>,
}

impl ProjectionWatch {
    pub async fn start(bus: &Bus, pool: PgPool, name: &'static str, shutdown: Shutdown) -> Self {
        let initial = natter_projections::checkpoint(&pool, name)
            .await
            .unwrap_or(0);
        let (tx, rx) = watch::channel(initial);
        let tx = Arc::new(tx);
        let subscription = bus
            .client()
            .subscribe(bus.subjects().checkpoint(name))
            .await;
        let announced = tx.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let Ok(mut sub) = subscription else {
                tracing::warn!(
                    projection = name,
                    "cannot subscribe to checkpoints; polling only"
                );
                return;
            };
            loop {
                tokio::select! {
                    () = stop.wait() => break,
                    msg = sub.next() => {
                        let Some(msg) = msg else { break };
                        if let Some(seq) = std::str::from_utf8(&msg.payload).ok().and_then(|s| s.parse().ok()) {
                            announced.send_if_modified(|cur| raise(cur, seq));
                        }
                    }
                }
            }
        });
        let polled = tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    () = shutdown.wait() => break,
                    _ = tick.tick() => {
                        if let Ok(seq) = natter_projections::checkpoint(&pool, name).await {
                            polled.send_if_modified(|cur| raise(cur, seq));
                        }
                    }
                }
            }
        });
        Self { rx, tx }
    }

    /// The newest checkpoint known.
    pub fn current(&self) -> u64 {
        *self.rx.borrow()
    }

    /// Records a checkpoint learnt some other way.
    pub fn observe(&self, seq: u64) {
        self.tx.send_if_modified(|cur| raise(cur, seq));
    }

    /// Waits until the projection has applied `seq`; false when `timeout` passed first.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let mut rx = self.rx.clone();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(|cur| *cur >= seq)).await,
            Ok(Ok(_))
        )
    }
}

fn raise(current: &mut u64, seq: u64) -> bool {
    if seq > *current {
        *current = seq;
        true
    } else {
        false
    }
}
