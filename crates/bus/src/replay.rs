//! A room's missed events, read back from the log for a resume (or a delivery gap).
//!
//! Two steps, so that a caller learns how many events a replay will send before it reads them
//! (and can refuse, or count them against a limit): [`Bus::open_room_replay`] makes a
//! room-filtered ordered consumer from the seq after `since`; [`RoomReplay::read`] reads it.

use std::time::Duration;

use async_nats::jetstream::consumer::{self, DeliverPolicy, pull};
use async_nats::jetstream::stream;
use bytes::Bytes;
use futures::StreamExt;

use crate::bus::Bus;
use crate::error::BusError;

/// How long a room replay waits for its next event before checking that one is still due.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// The missed events of one room, for resume.
#[derive(Debug)]
pub enum Replay {
    /// Every event after the requested seq, in order: `(seq, stored bytes)`.
    Events(Vec<(u64, Bytes)>),
    /// More were missed than the caller allows; nothing was read.
    TooMany { missed: u64 },
}

/// A replay whose consumer exists: how many events it holds is known, none is read yet.
pub struct RoomReplay<'a> {
    bus: &'a Bus,
    room: uuid::Uuid,
    since: u64,
    consumer: consumer::Consumer<pull::OrderedConfig>,
    missed: u64,
    /// The log's last seq before the consumer was made: every room event up to it is in the
    /// consumer, and the replay is complete only once none of them is left unread.
    head: u64,
}

impl Bus {
    /// Starts a replay of every event of `room` with `seq > since`, up to the head of the log
    /// now (or a little past it).
    pub async fn open_room_replay(
        &self,
        room: uuid::Uuid,
        since: u64,
    ) -> Result<RoomReplay<'_>, BusError> {
        let head = self.last_seq().await?;
        let config = pull::OrderedConfig {
            filter_subject: self.subjects().room_events(room),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: since + 1,
            },
            ..Default::default()
        };
        let consumer = self
            .stream()?
            .create_consumer(config)
            .await
            .map_err(|e| BusError::unavailable(format!("replay consumer: {e}")))?;
        let missed = consumer.cached_info().num_pending;
        Ok(RoomReplay {
            bus: self,
            room,
            since,
            consumer,
            missed,
            head,
        })
    }

    /// [`Bus::open_room_replay`] and [`RoomReplay::read`] in one.
    pub async fn replay_room(
        &self,
        room: uuid::Uuid,
        since: u64,
        max: u64,
        timeout: Duration,
    ) -> Result<Replay, BusError> {
        self.open_room_replay(room, since)
            .await?
            .read(max, timeout)
            .await
    }

    /// The seq of the first event of `room` at or after `from`, if there is one.
    async fn next_room_event(&self, room: uuid::Uuid, from: u64) -> Result<Option<u64>, BusError> {
        match self
            .stream()?
            .get_first_raw_message_by_subject(self.subjects().room_events(room), from)
            .await
        {
            Ok(message) => Ok(Some(message.sequence)),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(BusError::unavailable(format!("next event of {room}: {e}"))),
        }
    }
}

impl RoomReplay<'_> {
    /// How many events the replay holds, as the server counts them (nats-server 2.9 may count
    /// a few too many; never too few).
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Reads the events, unless more than `max` were missed, within `timeout`.
    pub async fn read(self, max: u64, timeout: Duration) -> Result<Replay, BusError> {
        self.read_through(u64::MAX, max, timeout).await
    }

    /// Reads the events up to seq `through` (those after it are not read), unless more than
    /// `max` of them are, within `timeout`.
    pub async fn read_through(
        self,
        through: u64,
        max: u64,
        timeout: Duration,
    ) -> Result<Replay, BusError> {
        let missed = self.missed;
        if missed > max && through == u64::MAX {
            return Ok(Replay::TooMany { missed });
        }
        let mut events = Vec::with_capacity(usize::try_from(missed.min(max)).unwrap_or(0));
        let bound = through.min(self.head);
        if missed == 0 {
            match self.bus.next_room_event(self.room, self.since + 1).await? {
                Some(next) if next <= bound => {}
                _ => return Ok(Replay::Events(events)),
            }
        }
        let mut messages = self
            .consumer
            .messages()
            .await
            .map_err(|e| BusError::unavailable(format!("replay: {e}")))?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = self.since;
        loop {
            // nats-server 2.9 can count pending messages for a wildcard filter wrongly, too
            // many or too few: the count is a hint, and the replay is complete only when no
            // room event up to the head it opened at follows the last one read (asked of the
            // stream when the count is reached, or when the consumer goes quiet).
            if events.len() as u64 >= missed {
                match self.bus.next_room_event(self.room, last + 1).await? {
                    Some(next) if next <= bound => {}
                    _ => break,
                }
            }
            let wait = tokio::time::Instant::now() + IDLE_CHECK;
            let next = match tokio::time::timeout_at(wait.min(deadline), messages.next()).await {
                Ok(next) => next,
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(BusError::unavailable("replay timed out"));
                }
                Err(_) => match self.bus.next_room_event(self.room, last + 1).await? {
                    None => break,
                    Some(next) if next > bound => break,
                    Some(_) => continue,
                },
            };
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(BusError::unavailable(format!("replay: {e}"))),
                None => return Err(BusError::unavailable("replay ended early")),
            };
            let seq = message
                .info()
                .map_err(|e| BusError::other(format!("replay message info: {e}")))?
                .stream_sequence;
            if seq > through {
                break;
            }
            if events.len() as u64 >= max {
                return Ok(Replay::TooMany { missed });
            }
            last = seq;
            events.push((seq, message.message.payload.clone()));
            if seq == through {
                break;
            }
        }
        Ok(Replay::Events(events))
    }
}
