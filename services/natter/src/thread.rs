//! A role on a thread of its own, with a single-threaded runtime of its own.
//!
//! `natter up` runs the projector this way. On the gateway's runtime it was one task among
//! thousands of sockets' tasks: each wake-up (a stretch of the log, a reply from PostgreSQL)
//! queued behind them, so at full load the read models fell further behind the log the longer
//! the load lasted (1.5-1.8 s at the end of 8 s of `bench fanout --preset 100x10`; 65-280 ms
//! on a thread of its own). Its NATS connection and database pool are its own, driven by its
//! own reactor.

use std::future::Future;

use tokio::sync::oneshot;

/// Runs `make()`'s future to its end on a new thread named `name`; the returned future
/// resolves with its result (or an error if the thread could not start or panicked). Dropping
/// the returned future drops the role's future at whatever await it is in, as aborting a task
/// would (the test kit's hard stop relies on that), and ends the thread.
pub fn spawn_role<F, Fut>(
    name: &'static str,
    make: F,
) -> impl Future<Output = anyhow::Result<()>> + Send + 'static
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + 'static,
{
    let (done, result) = oneshot::channel();
    // Never sent: its sender's drop is the signal.
    let (dropped, abandoned) = oneshot::channel::<std::convert::Infallible>();
    let started = std::thread::Builder::new()
        .name(format!("natter-{name}"))
        .spawn(move || {
            let ended = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(async move {
                    tokio::select! {
                        ended = make() => ended,
                        _ = abandoned => Err(anyhow::anyhow!("the {name} role was dropped")),
                    }
                }),
                Err(e) => Err(anyhow::Error::new(e).context(format!("the {name} runtime"))),
            };
            let _ = done.send(ended);
        });
    async move {
        let _dropped = dropped;
        if let Err(e) = started {
            return Err(anyhow::Error::new(e).context(format!("the {name} thread")));
        }
        match result.await {
            Ok(ended) => ended,
            Err(_) => Err(anyhow::anyhow!("the {name} role panicked")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn the_role_result_comes_back() {
        let ok = spawn_role("ok", || async { Ok(()) }).await;
        assert!(ok.is_ok());
        let failed = spawn_role("failed", || async { Err(anyhow::anyhow!("no database")) }).await;
        assert_eq!(
            failed.expect_err("the role failed").to_string(),
            "no database"
        );
    }

    #[tokio::test]
    async fn a_panic_is_an_error_not_a_hang() {
        let panicked = spawn_role("panics", || async { panic!("boom") }).await;
        assert!(
            panicked
                .expect_err("the role panicked")
                .to_string()
                .contains("panicked")
        );
    }

    /// Dropping the handle drops the role's future where it waits, as a killed process would.
    #[tokio::test]
    async fn dropping_the_handle_stops_the_role() {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = Flag(stopped.clone());
        let role = spawn_role("forever", move || async move {
            let _flag = flag;
            std::future::pending::<()>().await;
            Ok(())
        });
        let role = tokio::spawn(role);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!stopped.load(Ordering::SeqCst));
        role.abort();
        let _ = role.await;
        for _ in 0..200 {
            if stopped.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the role's future was not dropped");
    }
}
