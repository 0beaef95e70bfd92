//! How far the read models trail the log at the end of the measured window: the time from the
//! window's end until every live projection's checkpoint (from natter's `/metrics`, when the
//! projector runs in the gateway's process) reaches the newest seq acknowledged by then.

use std::time::{Duration, Instant};

use crate::client::Client;

const PROJECTIONS: [&str; 3] = ["history", "unread", "search"];

/// Milliseconds until every live projection reached `seq`; `None` when `/metrics` does not
/// show their checkpoints (the projector runs elsewhere) or they did not within 30 s.
pub async fn catch_up_ms(client: &Client, seq: u64, since: Instant) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, text) = client
            .call(reqwest::Method::GET, "/metrics", None, None)
            .await
            .ok()?;
        let text = text.as_str()?;
        let mut reached = true;
        for name in PROJECTIONS {
            let key = format!("natter_projection_checkpoint{{projection=\"{name}\"}} ");
            let at: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(&key))?
                .trim()
                .parse()
                .ok()?;
            reached &= at >= seq as f64;
        }
        if reached {
            return Some(since.elapsed().as_secs_f64() * 1e3);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
