//! The fault matrix: servers killed under a steady load, over real sockets, one file per
//! fault. Each test prints its figures (sends acked and refused during the fault, lost,
//! doubled, recovery time). What they share is here: a client that sends and retries, a
//! socket that resumes, and the checks that nothing was lost or doubled.

mod cluster;
mod gateway;
mod haproxy;
mod log;
mod nats;
mod soak;
mod storm;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natter_testkit::{Ws, wait_until};
use serde_json::json;
use uuid::Uuid;

/// How many times each body is stored in the room's history.
pub(crate) async fn stored_counts(pool: &sqlx::PgPool, room: Uuid) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT body, count(*) FROM messages WHERE room_id = $1 GROUP BY body")
            .bind(room)
            .fetch_all(pool)
            .await
            .expect("history");
    rows.into_iter().collect()
}

/// What a [`retrying_sender`] did.
#[derive(Debug, Default)]
pub(super) struct Sent {
    /// Each client id, with the seq its ack named.
    pub acked: BTreeMap<String, u64>,
    /// Refusals by HTTP status (each retried).
    pub refused: BTreeMap<u16, usize>,
    /// Attempts made again, after a refusal or a failed request.
    pub retried: usize,
    /// The longest time from a send's first try to its ack.
    pub longest: Duration,
    /// When each seq was acked.
    pub acked_at: Vec<(u64, std::time::Instant)>,
}

/// Sends over REST one message after another (about `per_second`; 0: as fast as the acks
/// come) until `stop` (or `limit` messages). A send that is refused or whose request fails is
/// retried with the same client id until it is acked, as a client would: after a failed
/// request on the next of `bases` (a client behind a load balancer). Every refusal must have
/// the error shape.
pub(super) fn retrying_sender(
    bases: Vec<String>,
    token: String,
    room: Uuid,
    per_second: u64,
    limit: Option<usize>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Sent> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut sent = Sent::default();
        let mut at = 0;
        let mut tick = (per_second > 0)
            .then(|| tokio::time::interval(Duration::from_micros(1_000_000 / per_second)));
        for i in 0.. {
            let done = match limit {
                Some(n) => i >= n,
                None => stop.load(Ordering::SeqCst),
            };
            if done {
                break;
            }
            if let Some(tick) = tick.as_mut() {
                tick.tick().await;
            }
            let id = format!("m{i}");
            let first_try = std::time::Instant::now();
            loop {
                let answer = http
                    .post(format!("{}/v1/rooms/{room}/messages", bases[at]))
                    .bearer_auth(&token)
                    .json(&json!({"body": id, "client_msg_id": id}))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match answer {
                    Ok(res) => {
                        let status = res.status();
                        let reply: serde_json::Value = res.json().await.unwrap_or_default();
                        if status.is_success() {
                            let seq = reply["seq"].as_u64().expect("an ack names its seq");
                            sent.acked.insert(id, seq);
                            sent.acked_at.push((seq, std::time::Instant::now()));
                            sent.longest = sent.longest.max(first_try.elapsed());
                            break;
                        }
                        assert!(
                            reply["error"]["code"].is_string(),
                            "a refusal has the error shape: {status} {reply}"
                        );
                        *sent.refused.entry(status.as_u16()).or_default() += 1;
                    }
                    // The gateway is gone: the next one.
                    Err(_) => at = (at + 1).min(bases.len() - 1),
                }
                sent.retried += 1;
                assert!(
                    first_try.elapsed() < Duration::from_secs(60),
                    "{id} not acked after 60 s of retries (refused {:?})",
                    sent.refused
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        sent
    })
}

/// Every acked message is in history exactly once (`stored`: [`stored_counts`]).
pub(super) fn assert_stored_once(stored: &BTreeMap<String, i64>, acked: &BTreeMap<String, u64>) {
    let lost: Vec<&String> = acked
        .keys()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let doubled: Vec<&String> = stored
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(lost.is_empty(), "acked but not in history: {lost:?}");
    assert!(doubled.is_empty(), "twice in history: {doubled:?}");
}

/// Waits until the reader was delivered `seq`, stops it, and checks what it was delivered:
/// each seq once, in order, and every acked seq from its first on. Returns how many times it
/// resumed.
pub(super) async fn assert_delivered_once(
    reader: tokio::task::JoinHandle<usize>,
    delivered: &Delivered,
    stop: &AtomicBool,
    acked: &BTreeMap<String, u64>,
    seq: u64,
) -> usize {
    wait_until("the socket to catch up", Duration::from_secs(30), || {
        let reached = delivered.lock().expect("seqs").contains(&seq);
        async move { reached.then_some(()) }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let reconnects = reader.await.expect("reader");
    let delivered = delivered.lock().expect("seqs").clone();
    if let Some(i) = (1..delivered.len()).find(|&i| delivered[i] <= delivered[i - 1]) {
        let around = &delivered[i.saturating_sub(5)..(i + 5).min(delivered.len())];
        panic!(
            "seq {} delivered after {} (twice or out of order): {around:?}",
            delivered[i],
            delivered[i - 1]
        );
    }
    let first = delivered.first().copied().unwrap_or(0);
    let undelivered: Vec<u64> = acked
        .values()
        .copied()
        .filter(|seq| *seq >= first && delivered.binary_search(seq).is_err())
        .collect();
    assert!(
        undelivered.is_empty(),
        "acked, never delivered: {undelivered:?}"
    );
    reconnects
}

/// The seqs of the messages a [`resuming_reader`] was delivered, in order.
pub(super) type Delivered = Arc<Mutex<Vec<u64>>>;

/// A subscriber that reconnects and resumes with `since` whenever its socket is closed, until
/// `stop`; records what it is delivered in `seqs` and returns how many times it resumed.
pub(super) fn resuming_reader(
    ws_url: String,
    token: String,
    room: Uuid,
    seqs: Delivered,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut reconnects = 0usize;
        let last = || seqs.lock().expect("seqs").last().copied();
        let mut epoch = String::new();
        while !stop.load(Ordering::SeqCst) {
            let Ok(mut ws) = Ws::connect(&ws_url, &token).await else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let mut frame = json!({"type": "subscribe", "room_id": room, "id": 1});
            if let Some(last) = last() {
                frame["since"] = json!(last);
                frame["epoch"] = json!(epoch);
                reconnects += 1;
            }
            ws.send_json(frame).await;
            loop {
                let read = tokio::time::timeout(Duration::from_millis(300), ws.next_any()).await;
                let Ok(read) = read else {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    continue;
                };
                let Some(frame) = read else { break };
                if frame["type"] == "reply" && frame["ok"] == true {
                    if let Some(e) = frame["data"]["epoch"].as_str() {
                        epoch = e.to_owned();
                    }
                } else if frame["type"] == "reply" {
                    break;
                } else if frame["type"] == "event" && frame["event"]["type"] == "message.posted" {
                    seqs.lock()
                        .expect("seqs")
                        .push(frame["seq"].as_u64().expect("seq"));
                }
            }
        }
        reconnects
    })
}
