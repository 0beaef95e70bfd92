//! natter-fanout: reads the log in order and delivers each event to the gateways that need it.
//!
//! Room events go to `<ns>.deliver.room.<room>`; events addressed to users (added to a room,
//! removed, mentioned, a session ended, ...) also go to `<ns>.deliver.user.<user>`; profile
//! changes go to `<ns>.deliver.people`, for every gateway. Both are core NATS subjects: a gateway
//! subscribes only to the rooms and users it holds sockets for, so NATS routes each event only
//! where it is needed. The event's bytes are passed through as stored, with its seq in the
//! `Natter-Seq` header.
//!
//! Order: one consumer, read in log order, published in that order on one connection, so each
//! room's events reach a gateway in seq order. Crash and redelivery: a batch is acked after its
//! deliveries are flushed; a crash in between delivers the batch again, and gateways drop every
//! event at or below the last seq they delivered for that room.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::DeliverPolicy;
use std::collections::HashMap;

use natter_bus::{Batches, Bus, BusError, Next, PREV_SEQ_HEADER, SEQ_HEADER, ack_through, seq_of};
use natter_common::{Ready, Shutdown};
use natter_schemas::Event;

/// The durable consumer's role name.
pub const ROLE: &str = "fanout";

#[derive(Debug, Clone, clap::Args)]
pub struct FanoutConfig {
    /// Most events taken from the log per flush.
    #[arg(long, env = "NATTER_FANOUT_BATCH", default_value_t = 1000)]
    pub fanout_batch: usize,
}

impl FanoutConfig {
    /// Adds the settings that cannot work to `checks`.
    pub fn check(&self, checks: &mut natter_common::config::Checks) {
        checks.require(
            (1..=100_000).contains(&self.fanout_batch),
            "NATTER_FANOUT_BATCH",
            || format!("{} events: use 1 to 100000", self.fanout_batch),
        );
    }
}

impl Default for FanoutConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

/// Delivers until `shutdown`; `ready` is told once the consumer is open.
pub async fn run(
    bus: Bus,
    config: FanoutConfig,
    shutdown: Shutdown,
    ready: Ready,
) -> Result<(), BusError> {
    let (mut batches, mut handled) = open(&bus, config.fanout_batch).await?;
    let mut rooms: HashMap<uuid::Uuid, u64> = HashMap::new();
    tracing::info!("fanout started");
    ready.started();
    loop {
        let mut batch = match batches.next_or_stop(&shutdown, ROLE).await {
            Next::Batch(batch) => batch,
            Next::Stop => break,
            Next::Reopen => {
                rooms.clear();
                batches = reopen(&bus, config.fanout_batch, handled).await?;
                continue;
            }
        };
        if let Some(handled) = handled {
            // Delivered again (a reopen, a redelivery): the gateways have it already.
            batch.retain(|m| seq_of(m).is_ok_and(|seq| seq > handled));
            let Some(first) = batch.first() else { continue };
            if let Some(first) = seq_of(first).ok().filter(|seq| *seq > handled + 1)
                && still_in_log(&bus, handled + 1, first).await?
            {
                // Events sent to a pull lost with its node count as delivered: made again
                // from the first not handled, they come again instead of being acked away.
                tracing::warn!(after = handled, "events lost in flight; reading them again");
                rooms.clear();
                batches = remake(&bus, config.fanout_batch, handled + 1).await?;
                continue;
            }
        }
        if let Err(e) = deliver(&bus, &batch, &mut rooms).await {
            // Recovery: anything not acked is delivered again.
            tracing::warn!(error = %e, "delivery failed; resuming at the last acked event");
            tokio::time::sleep(Duration::from_millis(200)).await;
            rooms.clear();
            batches = reopen(&bus, config.fanout_batch, handled).await?;
            continue;
        }
        handled = batch.last().and_then(|m| seq_of(m).ok()).or(handled);
    }
    tracing::info!("fanout stopped");
    Ok(())
}

/// Publishes a batch's deliveries and acks it, unless the connection was re-established
/// meanwhile: a flush only means the bytes left this process, and a reconnect discards what
/// was still buffered, so such a batch is delivered again rather than acked.
async fn deliver(
    bus: &Bus,
    batch: &[async_nats::jetstream::Message],
    rooms: &mut HashMap<uuid::Uuid, u64>,
) -> Result<(), BusError> {
    let connects = bus.connects();
    let mut delivered = 0u64;
    for message in batch {
        let seq = match seq_of(message) {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(error = %e, "delivery without stream metadata; skipped");
                continue;
            }
        };
        let event = match Event::from_bytes(&message.payload) {
            Ok(event) => event,
            Err(e) => {
                metrics::counter!("natter_fanout_undecodable_events_total").increment(1);
                tracing::error!(seq, error = %e, "skipping undecodable event");
                continue;
            }
        };
        let mut headers = HeaderMap::new();
        headers.insert(SEQ_HEADER, seq.to_string().as_str());
        // Events of no room (a user's own) reach only the users they are addressed to (an
        // ended session's sockets close on it).
        if let Some(room) = event.room_id {
            if let Some(prev) = rooms.insert(room, seq) {
                headers.insert(PREV_SEQ_HEADER, prev.to_string().as_str());
            }
            bus.notify(
                bus.subjects().deliver_room(room),
                Some(headers.clone()),
                message.payload.clone(),
            )
            .await?;
        }
        for user in event.addressed_users() {
            bus.notify(
                bus.subjects().deliver_user(user),
                Some(headers.clone()),
                message.payload.clone(),
            )
            .await?;
        }
        if let natter_schemas::EventBody::UserProfileUpdated(_)
        | natter_schemas::EventBody::UserErased(_) = event.body
        {
            bus.notify(
                bus.subjects().deliver_people(),
                Some(headers),
                message.payload.clone(),
            )
            .await?;
        }
        delivered += 1;
    }
    bus.flush().await?;
    if bus.connects() != connects {
        return Err(BusError::unavailable("reconnected during the batch"));
    }
    if let Some(last) = batch.last() {
        ack_through(last).await?;
    }
    metrics::counter!("natter_fanout_events_total").increment(delivered);
    Ok(())
}

/// The fan-out's consumer at start, resumed just after the last acked event, and that seq. A
/// new deployment delivers from now on (sockets that connect later catch up with `since`).
/// With cumulative acks, the consumer is made again at the ack floor on every start, so that
/// events a dead instance had received but not flushed are delivered, not acked away by the
/// next instance. Asked again while NATS does not answer ([`natter_bus::within_bound`]): a
/// node's loss or a leader's election costs the fan-out a pause, not its process.
async fn open(bus: &Bus, batch: usize) -> Result<(Batches, Option<u64>), BusError> {
    let position = natter_bus::within_bound("the fanout consumer's position", || {
        bus.durable_position(ROLE)
    })
    .await?;
    match position {
        Some((acked, _)) => Ok((remake(bus, batch, acked + 1).await?, Some(acked))),
        None => {
            let batches = natter_bus::within_bound("the fanout consumer", || async {
                let consumer = bus.durable(ROLE, DeliverPolicy::New).await?;
                batches_of(bus, &consumer, batch).await
            })
            .await?;
            Ok((batches, None))
        }
    }
}

/// Whether the events from `from` up to `next` (the first one delivered after a gap) are still
/// in the log: then they were lost in flight and are read again; else they aged out of the
/// log (its limits), which is said, and deliveries go on after them.
async fn still_in_log(bus: &Bus, from: u64, next: u64) -> Result<bool, BusError> {
    let (first, _) = natter_bus::within_bound("the log's first seq", || bus.seq_range()).await?;
    if first <= from {
        return Ok(true);
    }
    tracing::error!(
        from,
        to = next - 1,
        first,
        "events are gone from the log; their deliveries are skipped"
    );
    Ok(false)
}

/// The consumer made again so that it delivers from `from` on.
async fn remake(bus: &Bus, batch: usize, from: u64) -> Result<Batches, BusError> {
    natter_bus::within_bound("the fanout consumer", || async {
        let consumer = bus.durable_at(ROLE, from).await?;
        batches_of(bus, &consumer, batch).await
    })
    .await
}

/// The same consumer pulled again after trouble (a node lost, the connection back): no
/// meta-leader operation while the cluster is least able to answer one. Made again only when
/// it is gone (from the event after `handled`), or when a batch shows events lost in flight
/// (see [`still_in_log`]).
async fn reopen(bus: &Bus, batch: usize, handled: Option<u64>) -> Result<Batches, BusError> {
    let start = handled.map_or(DeliverPolicy::New, |handled| {
        DeliverPolicy::ByStartSequence {
            start_sequence: handled + 1,
        }
    });
    natter_bus::within_bound("the fanout consumer", || async {
        let consumer = bus.durable(ROLE, start).await?;
        batches_of(bus, &consumer, batch).await
    })
    .await
}

async fn batches_of(
    bus: &Bus,
    consumer: &natter_bus::async_nats::jetstream::consumer::Consumer<
        natter_bus::async_nats::jetstream::consumer::pull::Config,
    >,
    batch: usize,
) -> Result<Batches, BusError> {
    Ok(Batches::new(consumer, batch)
        .await?
        .reopen_on_reconnect(bus.connection_events()))
}
