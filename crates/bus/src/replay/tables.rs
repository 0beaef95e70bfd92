//! What replays share, kept in the bus (so that the bus holds them without knowing how a
//! replay reads): the answers about stretches of the log, the replays in flight, and what a
//! replay gives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::error::BusError;

/// Most answers [`Stretches`] keeps.
pub(crate) const STRETCHES: usize = 4096;

/// Flights in the table past which those that no one waits for any more are let go.
pub(crate) const FLIGHTS: usize = 1024;

/// Whether a room has an event in a stretch `(after, through]` of the log, asked of the stream
/// once per stretch however many replays ask at once (a reconnect storm asks the same question
/// of every socket of a room). Every seq up to `through` is assigned, and the log is never
/// rewritten, so an answer never changes.
#[derive(Clone, Default)]
pub(crate) struct Stretches(pub(super) Arc<Mutex<HashMap<Stretch, Arc<OnceCell<bool>>>>>);

/// A room, and the stretch `(after, through]` of the log asked about.
type Stretch = (uuid::Uuid, u64, u64);

/// Replays in flight, by room, stretch and limit: the sockets of a room that a reconnect storm
/// resumes from the same seq (those of one gateway, up to its feed's seq) read the stretch
/// once, with one consumer. What a stretch holds never changes, so every caller gets the same
/// answer; a flight leaves the table when its first caller is answered (one asking later
/// reads again), so the table holds only what is being read.
#[derive(Clone, Default)]
pub(crate) struct Flights(pub(super) Arc<Mutex<HashMap<Flight, Answer>>>);

/// A room, the stretch `(since, live_after]`, and the most events the caller takes.
type Flight = (uuid::Uuid, u64, u64, u64);

/// A flight's answer, once its read is done.
type Answer = Arc<OnceCell<Result<Replay, BusError>>>;

/// The missed events of one room, for resume.
#[derive(Debug, Clone)]
pub enum Replay {
    /// Every event after the requested seq, in order: `(seq, stored bytes)`.
    Events(Vec<(u64, Bytes)>),
    /// More were missed than the caller allows; nothing was read.
    TooMany { missed: u64 },
}
