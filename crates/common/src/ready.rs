//! Readiness: each role says once it has started (connected, its consumer or listener open),
//! and whoever composed the roles waits for all of them, instead of sleeping a while.

use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable count of roles that have started. Cheap to clone; a role that never calls
/// [`Ready::started`] is simply never counted.
#[derive(Clone, Debug)]
pub struct Ready {
    tx: Arc<watch::Sender<usize>>,
}

impl Default for Ready {
    fn default() -> Self {
        Self::new()
    }
}

impl Ready {
    pub fn new() -> Self {
        let (tx, _) = watch::channel(0);
        Self { tx: Arc::new(tx) }
    }

    /// One more role has started.
    pub fn started(&self) {
        self.tx.send_modify(|n| *n += 1);
    }

    /// How many roles have started.
    pub fn count(&self) -> usize {
        *self.tx.borrow()
    }

    /// Resolves once `roles` roles have started.
    pub async fn wait(&self, roles: usize) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`: waiting cannot fail.
        let _ = rx.wait_for(|n| *n >= roles).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_every_role() {
        let ready = Ready::new();
        let waiting = tokio::spawn({
            let ready = ready.clone();
            async move { ready.wait(2).await }
        });
        ready.started();
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        ready.started();
        waiting.await.expect("waited");
        assert_eq!(ready.count(), 2);
    }
}
