//! Read-your-writes: wait (bounded) until a projection has applied a given seq.
//!
//! Projectors announce checkpoints after every commit (`<ns>.proj.<name>` for one read model,
//! `<ns>.proj.together` for those the live projector applied in one transaction); this keeps
//! each read model's newest value in a watch channel. A slow poll of the checkpoint rows covers
//! announcements that were lost (core NATS is at-most-once) or sent before this gateway started.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use natter_bus::Bus;
use natter_common::Shutdown;
use sqlx::PgPool;
use tokio::sync::watch;

/// What keeps a set of [`ProjectionWatch`]es current.
pub struct CheckpointFeed {
    by_name: HashMap<&'static str, ProjectionWatch>,
    /// Taken by [`CheckpointFeed::run`].
    subscription: std::sync::Mutex<Option<async_nats::Subscriber>>,
    pool: PgPool,
}

impl CheckpointFeed {
    /// Feeds the watches from announcements and the poll until `shutdown`.
    pub async fn run(&self, shutdown: Shutdown) {
        let subscription = self
            .subscription
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let announced = async {
            let Some(mut sub) = subscription else {
                return std::future::pending().await;
            };
            while let Some(msg) = sub.next().await {
                for (name, seq) in parse(&msg.subject, &msg.payload) {
                    if let Some(watch) = self.by_name.get(name) {
                        watch.observe(seq);
                    }
                }
            }
            // The subscription ended (the connection closed): the poll goes on.
            std::future::pending::<()>().await;
        };
        let all: Vec<String> = self.by_name.keys().map(|n| (*n).to_owned()).collect();
        let polled = async {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let rows: Result<Vec<(String, i64)>, _> = sqlx::query_as(
                    "SELECT name, last_seq FROM projection_checkpoints WHERE name = ANY($1)",
                )
                .bind(&all)
                .fetch_all(&self.pool)
                .await;
                for (name, seq) in rows.unwrap_or_default() {
                    if let (Some(watch), Ok(seq)) =
                        (self.by_name.get(name.as_str()), u64::try_from(seq))
                    {
                        watch.observe(seq);
                    }
                }
            }
        };
        tokio::select! {
            () = shutdown.wait() => {}
            () = announced => {}
            () = polled => {}
        }
    }
}

#[derive(Clone)]
pub struct ProjectionWatch {
    rx: watch::Receiver<u64>,
    tx: Arc<watch::Sender<u64>>,
}

impl ProjectionWatch {
    /// Watches of `names`, starting at their checkpoints now, and the feed that keeps them
    /// current: one subscription to every checkpoint announcement (a read model's own, and
    /// the live projector's for those applied together) and one poll of their rows every
    /// 500 ms. The feed's owner runs it ([`CheckpointFeed::run`]).
    pub async fn start_all<const N: usize>(
        bus: &Bus,
        pool: PgPool,
        names: [&'static str; N],
    ) -> ([Self; N], CheckpointFeed) {
        let mut initial = [0u64; N];
        for (at, name) in initial.iter_mut().zip(names) {
            *at = natter_projections::checkpoint(&pool, name)
                .await
                .unwrap_or(0);
        }
        let watches: [Self; N] = std::array::from_fn(|i| {
            let (tx, rx) = watch::channel(initial[i]);
            Self {
                rx,
                tx: Arc::new(tx),
            }
        });
        // Subscribed now, so that no announcement after the reads above is missed.
        let subscription = bus
            .client()
            .subscribe(bus.subjects().all_checkpoints())
            .await
            .inspect_err(
                |e| tracing::warn!(error = %e, "cannot subscribe to checkpoints; polling only"),
            )
            .ok();
        let feed = CheckpointFeed {
            by_name: names.iter().copied().zip(watches.iter().cloned()).collect(),
            subscription: std::sync::Mutex::new(subscription),
            pool,
        };
        (watches, feed)
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

/// The `(projection, seq)` pairs of a checkpoint announcement: `<ns>.proj.<name>` carries one
/// seq; `<ns>.proj.together` carries `name=seq` pairs.
fn parse<'a>(subject: &'a str, payload: &'a [u8]) -> Vec<(&'a str, u64)> {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Vec::new();
    };
    let name = subject.rsplit('.').next().unwrap_or_default();
    if name == "together" {
        text.split_whitespace()
            .filter_map(|pair| {
                let (name, seq) = pair.split_once('=')?;
                Some((name, seq.parse().ok()?))
            })
            .collect()
    } else {
        text.trim()
            .parse()
            .map(|seq| vec![(name, seq)])
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn announcements_of_one_and_of_several_read_models() {
        assert_eq!(parse("ns.proj.history", b"42"), vec![("history", 42)]);
        assert_eq!(
            parse("ns.proj.together", b"history=7 unread=7 search=6"),
            vec![("history", 7), ("unread", 7), ("search", 6)]
        );
        assert!(parse("ns.proj.history", b"x").is_empty());
        assert!(parse("ns.proj.together", b"history=x").is_empty());
    }
}
