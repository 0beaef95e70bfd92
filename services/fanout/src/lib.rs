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
    let mut batches = open(&bus, config.fanout_batch).await?;
    // Each room's last delivered seq in this run, sent along as the next event's "previous".
    let mut rooms: HashMap<uuid::Uuid, u64> = HashMap::new();
    tracing::info!("fanout started");
    ready.started();
    loop {
        let batch = match batches.next_or_stop(&shutdown, ROLE).await {
            Next::Batch(batch) => batch,
            Next::Stop => break,
            Next::Reopen => {
                rooms.clear();
                batches = open(&bus, config.fanout_batch).await?;
                continue;
            }
        };
        if let Err(e) = deliver(&bus, &batch, &mut rooms).await {
            // Nothing was acked: read again from the ack floor (gateways drop repeats).
            tracing::warn!(error = %e, "delivery failed; resuming at the last acked event");
            tokio::time::sleep(Duration::from_millis(200)).await;
            rooms.clear();
            batches = open(&bus, config.fanout_batch).await?;
        }
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

/// The fan-out's consumer, resumed just after the last acked event. A new deployment delivers
/// from now on (sockets that connect later catch up with `since`). With cumulative acks, the
/// consumer is recreated at the ack floor on every start, so that events a dead instance had
/// received but not flushed are delivered, not acked away by the next instance.
/// Asked again while NATS does not answer ([`natter_bus::within_bound`]): a node's loss or a
/// leader's election costs the fan-out a pause, not its process.
async fn open(bus: &Bus, batch: usize) -> Result<Batches, BusError> {
    natter_bus::within_bound("the fanout consumer", || open_once(bus, batch)).await
}

async fn open_once(bus: &Bus, batch: usize) -> Result<Batches, BusError> {
    let consumer = match bus.durable_position(ROLE).await? {
        Some((acked, _)) => bus.durable_at(ROLE, acked + 1).await?,
        None => bus.durable(ROLE, DeliverPolicy::New).await?,
    };
    Ok(Batches::new(&consumer, batch)
        .await?
        .reopen_on_reconnect(bus.connection_events()))
}
