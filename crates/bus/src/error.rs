//! The bus's one error type, with the kind callers decide by.

use std::fmt;

/// What went wrong, so callers can decide: retry, answer `conflict`, or give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusErrorKind {
    /// NATS or the stream is unreachable or timed out: retry later (`unavailable`).
    Unavailable,
    /// An expected-last-subject-sequence guard failed: the one-of-a-kind thing exists.
    Conflict,
    /// The event was refused for its size.
    TooLarge,
    /// The log this process started on is gone or was made again: nothing is written until
    /// an operator restarts it (see `watch`).
    Lost,
    /// The log refused the append for its storage (full): an operator must make room.
    Full,
    /// Anything else (misconfiguration, a bug).
    Other,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BusError {
    pub kind: BusErrorKind,
    pub message: String,
}

impl BusError {
    pub fn new(kind: BusErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }

    pub fn unavailable(message: impl fmt::Display) -> Self {
        Self::new(BusErrorKind::Unavailable, message)
    }

    pub fn other(message: impl fmt::Display) -> Self {
        Self::new(BusErrorKind::Other, message)
    }
}

/// Whether JetStream answered that the stream does not exist (as opposed to not answering).
pub(crate) fn stream_not_found(e: &async_nats::jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        async_nats::jetstream::context::GetStreamErrorKind::JetStream(ref j)
            if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

impl From<async_nats::jetstream::context::PublishError> for BusError {
    fn from(err: async_nats::jetstream::context::PublishError) -> Self {
        use async_nats::jetstream::context::PublishErrorKind as K;
        let kind = match err.kind() {
            K::WrongLastSequence | K::WrongLastMessageId => BusErrorKind::Conflict,
            K::MaxPayloadExceeded => BusErrorKind::TooLarge,
            K::Other => BusErrorKind::Other,
            _ => BusErrorKind::Unavailable,
        };
        Self::new(kind, err)
    }
}
