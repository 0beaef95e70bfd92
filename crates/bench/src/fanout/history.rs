//! After a run: every accepted message is in its room's history exactly once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{Key, parse_bench};
use crate::client::{Client, User};

/// Reads every room's whole history and checks each accepted message is there exactly once.
pub(super) async fn check_history(
    client: &Client,
    reader: &User,
    rooms: &[Uuid],
    accepted: &[HashSet<Key>],
) -> anyhow::Result<(u64, u64)> {
    let (mut lost, mut doubled) = (0u64, 0u64);
    for (room, want) in rooms.iter().zip(accepted) {
        let mut seen: HashMap<Key, u32> = HashMap::new();
        let mut after = 0u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let path = format!("/v1/rooms/{room}/messages?after={after}&limit=100");
            let (status, page) = client
                .call(reqwest::Method::GET, &path, Some(&reader.token), None)
                .await?;
            anyhow::ensure!(status == 200, "history: {status} {page}");
            let messages = page["messages"].as_array().cloned().unwrap_or_default();
            for m in &messages {
                after = after.max(m["seq"].as_u64().unwrap_or(0));
                if let Some((sender, n, _)) = m["body"].as_str().and_then(parse_bench) {
                    *seen.entry((sender, n)).or_default() += 1;
                }
            }
            if page["has_more_after"] != true {
                // The projection may still be catching up: wait until it has everything.
                let missing = want.iter().filter(|k| !seen.contains_key(k)).count();
                if missing == 0 || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        lost += want.iter().filter(|k| !seen.contains_key(k)).count() as u64;
        doubled += seen
            .values()
            .map(|c| u64::from(c.saturating_sub(1)))
            .sum::<u64>();
    }
    Ok((lost, doubled))
}
