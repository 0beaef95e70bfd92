//! `fanout`: R rooms x S subscribed sockets per room x P senders, at a fixed total rate or as
//! fast as possible. Every message carries its send time; afterwards every accepted message
//! must have reached every subscriber of its room exactly once, and be in history exactly once.
//!
//! [`shape`] holds the flags and presets, [`report`] the findings and their table.

mod history;
mod lag;
mod report;
mod shape;

pub use report::{FanoutReport, print};
pub use shape::{FanoutArgs, Preset};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Client, User, send_json, subscribe};
use crate::stack::StackMeter;
use crate::stats::{Samples, UsageMeter};

/// Most sockets the bench opens for one user (natter's default `NATTER_MAX_CONNECTIONS_PER_USER`).
const SOCKETS_PER_USER: usize = 20;

/// A message's identity: sender index and sequence number.
type Key = (u32, u64);

struct Receiver {
    room: usize,
    counts: HashMap<Key, u32>,
    latency: Samples,
}

struct Sender {
    room: usize,
    accepted: Vec<Key>,
    ack: Samples,
    errors: BTreeMap<String, u64>,
}

/// `bench <sender> <n> <micros since start>` padded to the body size.
fn body(sender: u32, n: u64, micros: u64, size: usize) -> String {
    let mut text = format!("bench {sender} {n} {micros} ");
    while text.len() < size {
        text.push('x');
    }
    text
}

/// The sender, number and send time of a bench body (`bench <sender> <n> <micros> ...`).
fn parse_bench(body: &str) -> Option<(u32, u64, u64)> {
    let mut parts = body.strip_prefix("bench ")?.splitn(4, ' ');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

/// The same, found in a whole event frame without parsing the frame.
fn parse_body(frame: &str) -> Option<(u32, u64, u64)> {
    let start = frame.find("\"body\":\"bench ")? + "\"body\":\"".len();
    parse_bench(&frame[start..])
}

pub async fn run(
    client: &Client,
    args: &FanoutArgs,
    server_pid: Option<u32>,
) -> anyhow::Result<FanoutReport> {
    let args = &args.shaped();
    let tag = format!("b{:08x}", rand_u32());
    eprintln!(
        "setting up {} rooms, {} subscriber sockets, {} senders ...",
        args.rooms,
        args.rooms * args.subscribers,
        args.senders
    );
    let owner = client.user(&format!("{tag}_owner")).await?;
    let mut rooms = Vec::new();
    for r in 0..args.rooms {
        rooms.push(client.create_room(&owner, &format!("{tag}-{r}")).await?);
    }
    // Each subscribing user holds at most SOCKETS_PER_USER sockets (the server's default cap
    // per user and gateway): with more rooms, each subscriber is several users.
    let chunks = args.rooms.div_ceil(SOCKETS_PER_USER).max(1);
    let subscriber_users = users(client, &tag, "s", args.subscribers * chunks).await?;
    let senders = users(client, &tag, "p", args.senders).await?;
    let mut subscriptions: Vec<(&User, usize)> = Vec::new();
    for (i, user) in subscriber_users.iter().enumerate() {
        let chunk = i % chunks;
        for r in (chunk * SOCKETS_PER_USER..(chunk + 1) * SOCKETS_PER_USER)
            .take_while(|r| *r < rooms.len())
        {
            client.join(user, rooms[r]).await?;
            subscriptions.push((user, r));
        }
    }
    for (i, user) in senders.iter().enumerate() {
        client.join(user, rooms[i % rooms.len()]).await?;
    }

    let start = Instant::now();
    let warmup = Duration::from_secs(args.warmup);
    let stop_receivers = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));

    // Subscribers: one socket per (user, room).
    let mut receiver_tasks = Vec::new();
    for (user, r) in subscriptions {
        let room = &rooms[r];
        {
            let (mut sink, mut source, _) = client.connect(user).await?;
            subscribe(&mut sink, &mut source, *room, None).await?;
            let stop = stop_receivers.clone();
            let delivered = delivered.clone();
            receiver_tasks.push(tokio::spawn(async move {
                let mut rx = Receiver {
                    room: r,
                    counts: HashMap::new(),
                    latency: Samples::default(),
                };
                let _sink = sink;
                loop {
                    let next =
                        tokio::time::timeout(Duration::from_millis(200), source.next()).await;
                    let message = match next {
                        Err(_) if stop.load(Ordering::Relaxed) => break,
                        Err(_) => continue,
                        Ok(None) => break,
                        Ok(Some(Err(_))) => break,
                        Ok(Some(Ok(m))) => m,
                    };
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let Some((sender, n, micros)) = parse_body(text.as_str()) else {
                        continue;
                    };
                    let now = start.elapsed();
                    let sent = Duration::from_micros(micros);
                    *rx.counts.entry((sender, n)).or_default() += 1;
                    delivered.fetch_add(1, Ordering::Relaxed);
                    if sent >= warmup {
                        rx.latency.push(now.saturating_sub(sent));
                    }
                }
                rx
            }));
        }
    }

    // Senders.
    let total = warmup + Duration::from_secs(args.duration);
    let per_sender_rate = if args.rate == 0 {
        0.0
    } else {
        args.rate as f64 / args.senders as f64
    };
    let mut sender_tasks = Vec::new();
    let mut reply_tasks = Vec::new();
    // The newest seq acknowledged so far.
    let head = Arc::new(AtomicU64::new(0));
    let meter_at = start + warmup;
    for (i, user) in senders.iter().enumerate() {
        let room_index = i % rooms.len();
        let room = rooms[room_index];
        let (mut sink, mut source, _) = client.connect(user).await?;
        let window = Arc::new(Semaphore::new(args.window.max(1)));
        let head = head.clone();
        let pending: Arc<std::sync::Mutex<HashMap<u64, Duration>>> = Arc::default();
        let body_bytes = args.body_bytes;
        let sender_index = i as u32;
        let replies = {
            let window = window.clone();
            let pending = pending.clone();
            tokio::spawn(async move {
                let mut out = Sender {
                    room: room_index,
                    accepted: Vec::new(),
                    ack: Samples::default(),
                    errors: BTreeMap::new(),
                };
                while let Ok(Some(frame)) = crate::client::next_json(&mut source).await {
                    if frame["type"] != "reply" {
                        continue;
                    }
                    let Some(n) = frame["id"].as_u64() else {
                        continue;
                    };
                    let sent = pending.lock().map(|mut p| p.remove(&n)).ok().flatten();
                    window.add_permits(1);
                    if frame["ok"] == true {
                        if let Some(seq) = frame["data"]["seq"].as_u64() {
                            head.fetch_max(seq, Ordering::Relaxed);
                        }
                        if frame["data"]["duplicate"] == false {
                            out.accepted.push((sender_index, n));
                        }
                        if let Some(sent) = sent.filter(|s| *s >= warmup) {
                            out.ack.push(start.elapsed().saturating_sub(sent));
                        }
                    } else {
                        let code = frame["error"]["code"]
                            .as_str()
                            .unwrap_or("unknown")
                            .to_owned();
                        *out.errors.entry(code).or_default() += 1;
                    }
                }
                out
            })
        };
        sender_tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let interval = (per_sender_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / per_sender_rate));
            while start.elapsed() < total {
                if let Some(interval) = interval {
                    let due = start + interval.mul_f64(n as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let Ok(permit) = window.acquire().await else { break };
                permit.forget();
                let now = start.elapsed();
                if let Ok(mut p) = pending.lock() {
                    p.insert(n, now);
                }
                let frame = json!({
                    "type": "send", "id": n, "room_id": room,
                    "client_msg_id": n.to_string(),
                    "body": body(sender_index, n, u64::try_from(now.as_micros()).unwrap_or(0), body_bytes),
                });
                if send_json(&mut sink, &frame).await.is_err() {
                    break;
                }
                n += 1;
            }
            // Wait for the last replies, then close.
            let deadline = Instant::now() + Duration::from_secs(10);
            while pending.lock().map(|p| !p.is_empty()).unwrap_or(false) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = futures::SinkExt::close(&mut sink).await;
        }));
        reply_tasks.push(replies);
    }

    tokio::time::sleep_until(meter_at.into()).await;
    let meter = UsageMeter::start(server_pid);
    let stack_meter = StackMeter::start(server_pid);
    let delivered_at_window = delivered.load(Ordering::Relaxed);
    tokio::time::sleep_until((start + total).into()).await;
    let server = meter.finish();
    let stack_window = stack_meter.stop();
    let delivered_in_window = delivered.load(Ordering::Relaxed) - delivered_at_window;
    let lag = tokio::spawn({
        let client = client.clone();
        let seq = head.load(Ordering::Relaxed);
        let since = Instant::now();
        async move { lag::catch_up_ms(&client, seq, since).await }
    });
    eprintln!("sending done; waiting for the last acks and deliveries ...");
    for task in sender_tasks {
        task.await?;
    }
    let mut sent = Vec::new();
    for task in reply_tasks {
        sent.push(task.await?);
    }

    // Accepted messages per room; wait until every subscriber has them (or nothing moves).
    let mut accepted_by_room: Vec<HashSet<Key>> = vec![HashSet::new(); rooms.len()];
    for s in &sent {
        accepted_by_room[s.room].extend(s.accepted.iter().copied());
    }
    let expected: u64 =
        accepted_by_room.iter().map(|a| a.len() as u64).sum::<u64>() * args.subscribers as u64;
    let mut last = delivered.load(Ordering::Relaxed);
    let mut still = Instant::now();
    while delivered.load(Ordering::Relaxed) < expected && still.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = delivered.load(Ordering::Relaxed);
        if now != last {
            last = now;
            still = Instant::now();
        }
    }
    stop_receivers.store(true, Ordering::Relaxed);
    let mut received = Vec::new();
    for task in receiver_tasks {
        received.push(task.await?);
    }

    let (mut lost, mut doubled) = (0u64, 0u64);
    let mut latency = Samples::default();
    for rx in received {
        for key in &accepted_by_room[rx.room] {
            if !rx.counts.contains_key(key) {
                lost += 1;
            }
        }
        doubled += rx
            .counts
            .values()
            .map(|c| u64::from(c.saturating_sub(1)))
            .sum::<u64>();
        latency.extend(rx.latency);
    }
    let projection_lag_ms = lag.await.ok().flatten();
    let (history_lost, history_doubled) =
        history::check_history(client, &owner, &rooms, &accepted_by_room).await?;

    let mut ack = Samples::default();
    let mut errors = BTreeMap::new();
    let mut accepted_in_window = 0u64;
    for s in sent {
        accepted_in_window += s.ack.0.len() as u64;
        ack.extend(s.ack);
        for (code, n) in s.errors {
            *errors.entry(code).or_default() += n;
        }
    }
    let accepted: u64 = accepted_by_room.iter().map(|a| a.len() as u64).sum();
    let secs = args.duration.max(1) as f64;
    Ok(FanoutReport {
        rooms: args.rooms,
        subscribers_per_room: args.subscribers,
        senders: args.senders,
        target_rate: args.rate,
        duration_s: args.duration,
        accepted,
        accepted_per_s: accepted_in_window as f64 / secs,
        deliveries: delivered.load(Ordering::Relaxed),
        deliveries_per_s: delivered_in_window as f64 / secs,
        send_to_deliver: latency.percentiles(),
        send_to_ack: ack.percentiles(),
        errors,
        lost,
        doubled,
        history_lost,
        history_doubled,
        projection_lag_ms,
        server,
        stack: stack_window.usage(accepted_in_window),
    })
}

async fn users(client: &Client, tag: &str, kind: &str, n: usize) -> anyhow::Result<Vec<User>> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let client = client.clone();
        let name = format!("{tag}_{kind}{i}");
        tasks.push(tokio::spawn(async move { client.user(&name).await }));
    }
    let mut users = Vec::new();
    for task in tasks {
        users.push(task.await??);
    }
    Ok(users)
}

pub fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_bodies_round_trip_in_frames_and_in_history() {
        let text = body(3, 17, 123_456, 64);
        assert_eq!(text.len(), 64);
        assert_eq!(parse_bench(&text), Some((3, 17, 123_456)));
        let frame =
            serde_json::json!({"type": "event", "event": {"data": {"body": text}}}).to_string();
        assert_eq!(parse_body(&frame), Some((3, 17, 123_456)));
        assert_eq!(parse_bench("hello"), None);
    }
}
