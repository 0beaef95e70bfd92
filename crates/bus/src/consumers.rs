//! The roles' durable consumers (the fan-out's, the workers'): made when missing, made again
//! at a seq where a role starts, and where each stands.

use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::stream::ConsumerErrorKind;

use crate::bus::Bus;
use crate::error::BusError;

/// How long a role's consumer waits for an ack before delivering again.
const ACK_WAIT: Duration = Duration::from_secs(30);

impl Bus {
    /// The durable pull consumer of a role (`fanout`, a projection), over every event, acked
    /// cumulatively. Created when missing, starting at `start`.
    pub async fn durable(
        &self,
        role: &str,
        start: DeliverPolicy,
    ) -> Result<consumer::Consumer<pull::Config>, BusError> {
        self.durable_of(role, start, self.subjects.all_events(), ACK_WAIT)
            .await
    }

    /// Like [`Bus::durable`], over the events on `filter` only, redelivered when not acked
    /// within `ack_wait`.
    pub async fn durable_of(
        &self,
        role: &str,
        start: DeliverPolicy,
        filter: String,
        ack_wait: Duration,
    ) -> Result<consumer::Consumer<pull::Config>, BusError> {
        let name = self.subjects.consumer(role);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: filter,
            ack_policy: AckPolicy::All,
            deliver_policy: start,
            ack_wait,
            max_ack_pending: 20_000,
            ..Default::default()
        };
        self.stream()?
            .get_or_create_consumer(&name, config)
            .await
            .map_err(|e| BusError::unavailable(format!("consumer {name}: {e}")))
    }

    /// (Re)creates a role's durable consumer so that it delivers from `start_seq` on. Used at
    /// start: with cumulative acks, messages a dead instance had received but not acked would
    /// otherwise be acked by the next instance's first ack without ever being handled.
    pub async fn durable_at(
        &self,
        role: &str,
        start_seq: u64,
    ) -> Result<consumer::Consumer<pull::Config>, BusError> {
        self.durable_at_of(role, start_seq, self.subjects.all_events(), ACK_WAIT)
            .await
    }

    /// Like [`Bus::durable_at`], as [`Bus::durable_of`].
    pub async fn durable_at_of(
        &self,
        role: &str,
        start_seq: u64,
        filter: String,
        ack_wait: Duration,
    ) -> Result<consumer::Consumer<pull::Config>, BusError> {
        self.delete_durable(role).await?;
        let start = DeliverPolicy::ByStartSequence {
            start_sequence: start_seq.max(1),
        };
        self.durable_of(role, start, filter, ack_wait).await
    }

    /// Where a role's durable consumer stands: `(acked through, pending)`, or `None` when it does
    /// not exist.
    pub async fn durable_position(&self, role: &str) -> Result<Option<(u64, u64)>, BusError> {
        let name = self.subjects.consumer(role);
        match self.stream()?.consumer_info(&name).await {
            Ok(info) => Ok(Some((info.ack_floor.stream_sequence, info.num_pending))),
            Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => Ok(None),
            Err(e) => Err(BusError::unavailable(format!("consumer {name}: {e}"))),
        }
    }

    /// Deletes a role's durable consumer (to restart it elsewhere in the log).
    pub async fn delete_durable(&self, role: &str) -> Result<(), BusError> {
        let name = self.subjects.consumer(role);
        match self.stream()?.delete_consumer(&name).await {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(e.kind(), ConsumerErrorKind::JetStream(ref j)
                    if j.error_code() == ErrorCode::CONSUMER_NOT_FOUND) =>
            {
                Ok(())
            }
            Err(e) => Err(BusError::unavailable(format!(
                "delete consumer {name}: {e}"
            ))),
        }
    }
}
