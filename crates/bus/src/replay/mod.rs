//! A room's missed events, read back from the log for a resume (or a delivery gap).
//!
//! Two steps, so that a caller learns how many events a replay will send before it reads them
//! (and can refuse, or count them against a limit): [`Bus::open_room_replay`] makes a
//! room-filtered [`Reader`] from the seq after `since`; [`RoomReplay::read`] reads it.
//! A caller whose live feed has every room event after a known seq says so when it opens the
//! replay: when the room has no event between `since` and that seq (the common resume, and
//! what most of a reconnect storm asks, one question per stretch however many ask), no
//! consumer is made at all. [`Bus::replay_room`] does both steps, once for all the callers that
//! ask for the same stretch at once.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::stream;
use futures::StreamExt;

use crate::bus::Bus;
use crate::error::BusError;
use crate::reader::Reader;

pub(crate) mod tables;

pub use tables::Replay;
use tables::{FLIGHTS, STRETCHES};

/// How long a room replay waits for its next event before checking that one is still due.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// A replay whose consumer exists: how many events it holds is known, none is read yet.
pub struct RoomReplay<'a> {
    bus: &'a Bus,
    room: uuid::Uuid,
    since: u64,
    /// `None` when the room has no event to replay (known before any consumer was made).
    consumer: Option<Reader>,
    missed: u64,
    /// The last seq the replay must reach, if there are room events up to it (the caller's
    /// live feed delivers every one after it); `u64::MAX` when the caller knows no such seq.
    bound: u64,
}

impl Bus {
    /// Starts a replay of every event of `room` with `seq > since`, up to the head of the log
    /// now (or a little past it). With `live_after`, every room event after that seq reaches
    /// the caller another way (a live feed that was listening before the replay opened): the
    /// replay need not look past it.
    pub async fn open_room_replay(
        &self,
        room: uuid::Uuid,
        since: u64,
        live_after: Option<u64>,
    ) -> Result<RoomReplay<'_>, BusError> {
        let bound = live_after.unwrap_or(u64::MAX);
        if bound != u64::MAX && !more_after(self, room, since, bound).await? {
            return Ok(RoomReplay {
                bus: self,
                room,
                since,
                consumer: None,
                missed: 0,
                bound,
            });
        }
        let (reader, missed) = Reader::open(
            self.stream()?.clone(),
            self.watch.clone(),
            self.subjects().room_events(room),
            since + 1,
        )
        .await?;
        Ok(RoomReplay {
            bus: self,
            room,
            since,
            consumer: Some(reader),
            missed,
            bound,
        })
    }

    /// [`Bus::open_room_replay`] and [`RoomReplay::read`] in one: the events of `room` after
    /// `since`, unless more than `max`, within `timeout`. With `live_after` (the caller's live
    /// feed, listening before this was asked, has every room event after it), the stretch is
    /// fixed, and read once however many callers ask for the same at once.
    pub async fn replay_room(
        &self,
        room: uuid::Uuid,
        since: u64,
        live_after: Option<u64>,
        max: u64,
        timeout: Duration,
    ) -> Result<Replay, BusError> {
        let Some(live_after) = live_after else {
            // Up to the head of the log, which moves: not a stretch to share.
            let replay = self.open_room_replay(room, since, None).await?;
            return replay.read(max, timeout).await;
        };
        let key = (room, since, live_after, max);
        let flight = {
            let mut flights = self.flights.0.lock().unwrap_or_else(|e| e.into_inner());
            if flights.len() >= FLIGHTS {
                // Those whose every caller went away before an answer.
                flights.retain(|_, f| Arc::strong_count(f) > 1);
            }
            flights.entry(key).or_default().clone()
        };
        // A caller that goes away while reading hands the read to the next one waiting.
        let answer = flight
            .get_or_init(|| async {
                self.open_room_replay(room, since, Some(live_after))
                    .await?
                    .read(max, timeout)
                    .await
            })
            .await
            .clone();
        let mut flights = self.flights.0.lock().unwrap_or_else(|e| e.into_inner());
        if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            flights.remove(&key);
        }
        answer
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
        let bound = through.min(self.bound);
        let (bus, room) = (self.bus, self.room);
        let deadline = tokio::time::Instant::now() + timeout;
        // Whether a room event up to the bound follows `last`, within the replay's time.
        let more_after = |last: u64| async move {
            tokio::time::timeout_at(deadline, more_after(bus, room, last, bound))
                .await
                .map_err(|_| BusError::unavailable("replay timed out"))?
        };
        let Some(mut messages) = self.consumer else {
            return Ok(Replay::Events(events));
        };
        if missed == 0 && !more_after(self.since).await? {
            return Ok(Replay::Events(events));
        }
        let mut last = self.since;
        loop {
            // nats-server 2.9 can count pending messages for a wildcard filter wrongly, too
            // many or too few: the count is a hint, and the replay is complete only when no
            // room event up to its bound follows the last one read (asked of the stream when
            // the count is reached, or when the consumer goes quiet).
            if events.len() as u64 >= missed && !more_after(last).await? {
                break;
            }
            let wait = tokio::time::Instant::now() + IDLE_CHECK;
            let next = match tokio::time::timeout_at(wait.min(deadline), messages.next()).await {
                Ok(next) => next,
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(BusError::unavailable("replay timed out"));
                }
                Err(_) if more_after(last).await? => continue,
                Err(_) => break,
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

/// Whether a room event follows `last` up to `bound` (no question asked when `last` reached
/// the bound already; one question per stretch however many ask).
async fn more_after(bus: &Bus, room: uuid::Uuid, last: u64, bound: u64) -> Result<bool, BusError> {
    if last >= bound {
        return Ok(false);
    }
    // Without a bound the answer could change as events are appended: asked every time.
    if bound == u64::MAX {
        return Ok(bus.next_room_event(room, last + 1).await?.is_some());
    }
    let cell = {
        let mut answers = bus.stretches.0.lock().unwrap_or_else(|e| e.into_inner());
        if answers.len() >= STRETCHES {
            answers.clear();
        }
        answers.entry((room, last, bound)).or_default().clone()
    };
    let more = cell
        .get_or_try_init(|| async {
            Ok::<_, BusError>(matches!(
                bus.next_room_event(room, last + 1).await?,
                Some(next) if next <= bound
            ))
        })
        .await?;
    Ok(*more)
}
