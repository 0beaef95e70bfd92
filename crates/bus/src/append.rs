//! Appending to the log: idempotency (`Nats-Msg-Id`), one-of-a-kind guards, pipelining, an
//! answer at once when the connection drops before the log's, and appends sent again while the
//! log's answer is undecided.
//!
//! Sent again: an append with a `Nats-Msg-Id` and no expected last sequence, whose answer was
//! undecided (a timeout, no stream answering while a leader is elected, the connection lost)
//! or `seq: 0` (nats-server 2.9 answers a repeat that arrives while the first is still being
//! proposed with `{seq: 0, duplicate: true}`), is sent again with the same bytes and the same
//! id, backing off, until the log answers with a seq or the resend bound has passed
//! (`unavailable`). The log keeps it once (the dedupe window, 2 minutes by default, is far
//! longer than the bound), so the caller sees a slower ack instead of `unavailable`. Never sent
//! again: an append the log refused (a wrong last sequence, too large, a full store), or one
//! without an id (it could be stored twice).

use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage as Publish;
use bytes::Bytes;
use natter_schemas::Event;

use crate::bus::Bus;
use crate::error::{BusError, BusErrorKind};

/// What the log answered to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    /// The `Nats-Msg-Id` was seen inside the dedupe window: `seq` is the original's.
    pub duplicate: bool,
    /// The append was sent again (its first answer undecided): a `duplicate` answer then most
    /// likely names this append's own first try, which landed after all.
    pub resent: bool,
}

/// An append on its way to the log; await it for the log's answer.
///
/// If the connection drops before the answer, the append is answered "unavailable" at once
/// rather than when the ack's timeout (10 s) runs out: the server may or may not have stored
/// it, as with any error, and a retry with the same `Nats-Msg-Id` is safe.
pub struct PendingAppend(Box<Pending>);

/// What a [`PendingAppend`] holds (boxed: a pending append is moved along with each send).
struct Pending {
    /// The first try: its ack on its way, or why it could not be sent.
    sent: Result<(PublishAckFuture, tokio::sync::watch::Receiver<u64>), BusError>,
    /// What to send again while the answer is undecided (appends with a `Nats-Msg-Id` only).
    again: Option<Again>,
    /// Told how the append ended (a full log, a log gone).
    watch: std::sync::Arc<crate::watch::Watch>,
}

/// An append as it was first sent: the same bytes and id go again.
struct Again {
    bus: Bus,
    subject: String,
    payload: Bytes,
    msg_id: String,
}

/// One try's answer: `Ok` a seq, or why it is not decided (`Err` with `Unavailable`), or a
/// refusal.
async fn answer(
    ack: PublishAckFuture,
    drops: &mut tokio::sync::watch::Receiver<u64>,
) -> Result<Appended, BusError> {
    let ack = tokio::select! {
        ack = ack => ack?,
        Ok(()) = drops.changed() => {
            return Err(BusError::unavailable(
                "the connection to NATS dropped before the log answered",
            ));
        }
    };
    if ack.sequence == 0 {
        return Err(BusError::unavailable(
            "the log has not decided the append yet (seq 0)",
        ));
    }
    Ok(Appended {
        seq: ack.sequence,
        duplicate: ack.duplicate,
        resent: false,
    })
}

impl std::future::IntoFuture for PendingAppend {
    type Output = Result<Appended, BusError>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let Pending {
            mut sent,
            again,
            watch,
        } = *self.0;
        Box::pin(async move {
            let started = Instant::now();
            let mut wait = Duration::from_millis(50);
            let mut resent = false;
            loop {
                let error = match sent {
                    Ok((ack, mut drops)) => match answer(ack, &mut drops).await {
                        Ok(appended) => {
                            watch.note_appended();
                            return Ok(Appended { resent, ..appended });
                        }
                        Err(e) => e,
                    },
                    Err(e) => e,
                };
                let error = watch.note_error(error);
                let Some(again) = again.as_ref() else {
                    return Err(error);
                };
                // A full log, a log gone, a refusal: decided.
                if error.kind != BusErrorKind::Unavailable
                    || started.elapsed() + wait > again.bus.resend_bound()
                {
                    return Err(error);
                }
                tracing::debug!(error = %error, msg_id = again.msg_id, "append undecided; sending it again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
                // The same bytes and id; a failure to send is undecided too, until the bound.
                resent = true;
                sent = again
                    .bus
                    .publish(
                        &again.subject,
                        again.payload.clone(),
                        Some(&again.msg_id),
                        None,
                    )
                    .await;
            }
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
        self.watch.refuse_if_lost()?;
        let payload = Bytes::from(event.to_bytes());
        let sent = self
            .publish(&subject, payload.clone(), msg_id, last_on_subject)
            .await;
        let again = match (msg_id, last_on_subject) {
            (Some(id), None) => Some(Again {
                bus: self.clone(),
                subject,
                payload,
                msg_id: id.to_owned(),
            }),
            _ => None,
        };
        if again.is_none() {
            // Not sent again: a failure to send is the answer now.
            sent.as_ref()
                .map_err(|e| self.watch.note_error(e.clone()))?;
        }
        Ok(PendingAppend(Box::new(Pending {
            sent,
            again,
            watch: self.watch.clone(),
        })))
    }

    /// Sends one append; the future of its ack, and the drops it may meet.
    async fn publish(
        &self,
        subject: &str,
        payload: Bytes,
        msg_id: Option<&str>,
        last_on_subject: Option<u64>,
    ) -> Result<(PublishAckFuture, tokio::sync::watch::Receiver<u64>), BusError> {
        let mut publish = Publish::build().payload(payload);
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
        let ack = self.js.send_publish(subject.to_owned(), publish).await?;
        Ok((ack, drops))
    }
}
