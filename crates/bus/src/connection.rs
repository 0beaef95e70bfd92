//! The connection's ups and downs, as the roles need them: trouble that may have cost
//! core-NATS messages, and its coming back.

/// What happened to the connection: trouble that may have cost core-NATS messages
/// (deliveries are at-most-once), and its coming back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// The connection dropped; anything buffered or in flight may be gone.
    Disconnected,
    /// A subscription's buffer overflowed and messages were dropped.
    SlowConsumer,
    /// The connection is back after a drop. The server may have restarted meanwhile: its
    /// ephemeral consumers (the log readers) are gone, and a reader opened before the drop
    /// should be opened again rather than left to notice by itself (it takes a pull request's
    /// expiry, 10-20 s).
    Reconnected,
}

impl ConnectionEvent {
    /// Whether messages may have been lost.
    pub fn is_trouble(self) -> bool {
        !matches!(self, Self::Reconnected)
    }
}

/// Resolves at the next [`ConnectionEvent::Reconnected`] on `events` (never, once the
/// connection is gone for good).
pub async fn reconnected(events: &mut tokio::sync::broadcast::Receiver<ConnectionEvent>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(ConnectionEvent::Reconnected) => return,
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
