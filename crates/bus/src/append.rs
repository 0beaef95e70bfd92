//! Appending to the log: idempotency (`Nats-Msg-Id`), one-of-a-kind guards, pipelining, and
//! an answer at once when the connection drops before the log's.

use async_nats::jetstream::message::PublishMessage as Publish;
use bytes::Bytes;
use natter_schemas::Event;

use crate::bus::Bus;
use crate::error::BusError;

/// What the log answered to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    /// The `Nats-Msg-Id` was seen inside the dedupe window: `seq` is the original's.
    pub duplicate: bool,
}

/// An append on its way to the log; await it for the log's answer.
///
/// If the connection drops before the answer, the append is answered "unavailable" at once
/// rather than when the ack's timeout (10 s) runs out: the server may or may not have stored
/// it, as with any error, and a retry with the same `Nats-Msg-Id` is safe.
pub struct PendingAppend {
    ack: async_nats::jetstream::context::PublishAckFuture,
    drops: tokio::sync::watch::Receiver<u64>,
}

impl std::future::IntoFuture for PendingAppend {
    type Output = Result<Appended, BusError>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let Self { ack, mut drops } = self;
        Box::pin(async move {
            let ack = tokio::select! {
                ack = ack => ack?,
                Ok(()) = drops.changed() => {
                    return Err(BusError::unavailable(
                        "the connection to NATS dropped before the log answered",
                    ));
                }
            };
            Ok(Appended {
                seq: ack.sequence,
                duplicate: ack.duplicate,
            })
        })
    }
}

impl Bus {
    /// Appends an event and waits for the log's ack.
    ///
    /// - `msg_id` sets `Nats-Msg-Id`: a second append with the same id inside the dedupe window
    ///   is not stored again and answers the original's seq with `duplicate: true`.
    /// - `first_on_subject` requires that nothing was ever appended on `subject` (one room
    ///   creation per room, one registration per username); otherwise the error kind is
    ///   [`BusErrorKind::Conflict`].
    pub async fn append(
        &self,
        subject: String,
        event: &Event,
        msg_id: Option<&str>,
        first_on_subject: bool,
    ) -> Result<Appended, BusError> {
        self.append_pipelined(subject, event, msg_id, first_on_subject)
            .await?
            .await
    }

    /// Like [`Bus::append`], but returns once the event is sent, with a future for the ack.
    /// Appends made one after another from one task reach the log in that order, so a caller
    /// can pipeline them and await the acks later.
    pub async fn append_pipelined(
        &self,
        subject: String,
        event: &Event,
        msg_id: Option<&str>,
        first_on_subject: bool,
    ) -> Result<PendingAppend, BusError> {
        self.send(subject, event, msg_id, first_on_subject.then_some(0))
            .await
    }

    /// Appends an event only if the last one on `subject` is still at `last_seq` (0: nothing
    /// on it yet); otherwise the error kind is [`BusErrorKind::Conflict`]. What makes a step
    /// of a subject's history happen once (a refresh token spent).
    pub async fn append_if_last(
        &self,
        subject: String,
        event: &Event,
        last_seq: u64,
    ) -> Result<Appended, BusError> {
        self.send(subject, event, None, Some(last_seq)).await?.await
    }

    async fn send(
        &self,
        subject: String,
        event: &Event,
        msg_id: Option<&str>,
        last_on_subject: Option<u64>,
    ) -> Result<PendingAppend, BusError> {
        let mut publish = Publish::build().payload(Bytes::from(event.to_bytes()));
        if let Some(id) = msg_id {
            publish = publish.message_id(id);
        }
        if let Some(last) = last_on_subject {
            publish = publish.expected_last_subject_sequence(last);
        }
        // Subscribed before sending: a drop after this is one the append may have met.
        let drops = self.drops.subscribe();
        // While the connection is down an append would wait in the client's buffer until the
        // ack's timeout: say so now instead.
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(BusError::unavailable("not connected to NATS"));
        }
        let ack = self.js.send_publish(subject, publish).await?;
        Ok(PendingAppend { ack, drops })
    }
}
