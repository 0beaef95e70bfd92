//! The fault matrix: servers killed under a steady load, over real sockets. Each test prints
//! its figures (sends acked and refused during the fault, lost, doubled, recovery time).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natter_testkit::{Api, Natter, NatterProcess, PrivateNats, TestEnv, Ws, wait_until};
use serde_json::json;
use uuid::Uuid;

/// Sends over REST at about `per_second` until `stop`; returns each acked client id's seq and
/// the refusals by status.
fn steady_sender(
    api: &Api,
    room: Uuid,
    per_second: u64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(BTreeMap<String, u64>, BTreeMap<u16, usize>)> {
    let api = api.clone();
    tokio::spawn(async move {
        let (mut acked, mut refused) = (BTreeMap::new(), BTreeMap::new());
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
        let mut i = 0u64;
        while !stop.load(Ordering::SeqCst) {
            tick.tick().await;
            let id = format!("m{i}");
            i += 1;
            let (status, reply) = api
                .post(
                    &format!("/v1/rooms/{room}/messages"),
                    json!({"body": id, "client_msg_id": id}),
                )
                .await;
            match reply["seq"].as_u64() {
                Some(seq) if status.is_success() => {
                    acked.insert(id, seq);
                }
                _ => {
                    assert!(
                        reply["error"]["code"].is_string(),
                        "a refusal has the error shape: {status} {reply}"
                    );
                    *refused.entry(status.as_u16()).or_default() += 1;
                }
            }
        }
        (acked, refused)
    })
}

/// The seqs of the messages a [`resuming_reader`] was delivered, in order.
type Delivered = Arc<Mutex<Vec<u64>>>;

/// A subscriber that reconnects and resumes with `since` whenever its socket is closed, until
/// `stop`; records what it is delivered in `seqs` and returns how many times it resumed.
fn resuming_reader(
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

/// nats-server SIGKILLed under load and restarted 3 s later: sends meanwhile are refused
/// (never a false ack); afterwards every acked message is in history once and reaches a
/// socket that resumes by itself once; the read models resume soon after the log is back.
#[tokio::test]
async fn nats_killed_and_restarted_loses_nothing() {
    let mut nats = PrivateNats::start().await;
    let mut env = TestEnv::new().await;
    env.conn.nats_url = nats.url();
    let natter = Natter::start(&env).await;
    let alice = Api::register(&natter.base, "alice").await;
    let room = alice.create_room("r", "public").await;

    let stop_sending = Arc::new(AtomicBool::new(false));
    let stop_reading = Arc::new(AtomicBool::new(false));
    let delivered = Delivered::default();
    let reader = resuming_reader(
        natter.ws_url(),
        alice.token().to_owned(),
        room,
        delivered.clone(),
        stop_reading.clone(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sender = steady_sender(&alice, room, 200, stop_sending.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.kill().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    nats.restart().await;
    let back = Instant::now();
    // The first send acked after the restart, and how long until history shows it.
    let probe = wait_until(
        "a send after the restart",
        Duration::from_secs(30),
        || async {
            let (status, reply) = alice
                .post(
                    &format!("/v1/rooms/{room}/messages"),
                    json!({"body": "probe", "client_msg_id": "probe"}),
                )
                .await;
            status.is_success().then(|| reply["seq"].as_u64()).flatten()
        },
    )
    .await;
    let appends_back = back.elapsed();
    let pool = env.pool().await;
    let projected = |seq: u64| {
        let pool = pool.clone();
        async move {
            let at: i64 = sqlx::query_scalar(
                "SELECT min(last_seq) FROM projection_checkpoints WHERE name IN ('history', 'unread', 'search')",
            )
            .fetch_one(&pool)
            .await
            .ok()?;
            (at as u64 >= seq).then_some(())
        }
    };
    wait_until(
        "the read models after the restart",
        Duration::from_secs(60),
        || projected(probe),
    )
    .await;
    let read_models_back = back.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_sending.store(true, Ordering::SeqCst);
    let (acked, refused) = sender.await.expect("sender");
    let last = acked.values().copied().max().unwrap_or(0).max(probe);
    wait_until(
        "history to reach the last ack",
        Duration::from_secs(30),
        || projected(last),
    )
    .await;

    // History: every acked message once; nothing else of the sender's.
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT body, count(*) FROM messages WHERE room_id = $1 GROUP BY body")
            .bind(room)
            .fetch_all(&pool)
            .await
            .expect("history");
    let stored: BTreeMap<String, i64> = stored.into_iter().collect();
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

    // The socket: every acked message delivered once, in order, across its resumes.
    wait_until("the socket to catch up", Duration::from_secs(30), || {
        let reached = delivered.lock().expect("seqs").contains(&last);
        async move { reached.then_some(()) }
    })
    .await;
    stop_reading.store(true, Ordering::SeqCst);
    let reconnects = reader.await.expect("reader");
    let delivered = delivered.lock().expect("seqs").clone();
    let mut sorted = delivered.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), delivered.len(), "a seq delivered twice");
    assert_eq!(sorted, delivered, "out of order");
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
    assert!(reconnects >= 1, "the socket was closed and resumed");
    println!(
        "nats kill -9, restarted after 3 s, 200 sends/s: {} acked, refused {refused:?}; lost 0, doubled 0; \
         appends back {:.1} s and read models {:.1} s after the restart; the socket resumed {reconnects} time(s)",
        acked.len(),
        appends_back.as_secs_f64(),
        read_models_back.as_secs_f64(),
    );
    pool.close().await;
    natter.stop().await;
    env.cleanup().await;
}

/// A gateway SIGKILLed under load, with its clients moving to another gateway: the sender
/// retries what was not acked there with the same client ids, and every message ends up in
/// history once and reaches the other gateway's resuming socket once, in order.
#[tokio::test]
async fn a_gateway_killed_under_load_loses_and_doubles_nothing() {
    let env = TestEnv::new().await;
    let projector = Natter::start_role(
        &env,
        natter_testkit::Role::Projector,
        natter_testkit::gateway_config(),
    )
    .await;
    let fanout = Natter::start_role(
        &env,
        natter_testkit::Role::Fanout,
        natter_testkit::gateway_config(),
    )
    .await;
    let doomed = NatterProcess::spawn(&env, "gateway").await;
    let survivor = NatterProcess::spawn(&env, "gateway").await;
    let alice = Api::register(&doomed.base, "alice").await;
    let room = alice.create_room("r", "public").await;

    let stop_reading = Arc::new(AtomicBool::new(false));
    let delivered = Delivered::default();
    let reader = resuming_reader(
        survivor.ws_url(),
        alice.token().to_owned(),
        room,
        delivered.clone(),
        stop_reading.clone(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The sender: REST, one after another; a failed request is retried with the same
    // client id on the other gateway, as a client behind a load balancer would.
    const N: usize = 600;
    let http = reqwest::Client::new();
    let token = alice.token().to_owned();
    let bases = [doomed.base.clone(), survivor.base.clone()];
    let sender = tokio::spawn(async move {
        let (mut at, mut retried) = (0usize, 0usize);
        let mut seqs = BTreeMap::new();
        for i in 0..N {
            let id = format!("m{i}");
            loop {
                let sent = http
                    .post(format!("{}/v1/rooms/{room}/messages", bases[at]))
                    .bearer_auth(&token)
                    .json(&json!({"body": id, "client_msg_id": id}))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                let reply = match sent {
                    Ok(res) if res.status().is_success() => {
                        res.json::<serde_json::Value>().await.ok()
                    }
                    _ => None,
                };
                match reply.and_then(|r| r["seq"].as_u64()) {
                    Some(seq) => {
                        seqs.insert(id, seq);
                        break;
                    }
                    None => {
                        at = 1;
                        retried += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        (seqs, retried)
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    doomed.kill().await;
    let (seqs, retried) = sender.await.expect("sender");
    let last = seqs.values().copied().max().expect("sent");

    wait_until("the socket to catch up", Duration::from_secs(30), || {
        let reached = delivered.lock().expect("seqs").contains(&last);
        async move { reached.then_some(()) }
    })
    .await;
    stop_reading.store(true, Ordering::SeqCst);
    let reconnects = reader.await.expect("reader");
    let delivered = delivered.lock().expect("seqs").clone();
    let mut sorted = delivered.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, delivered, "delivered once each, in order");
    let first = delivered.first().copied().unwrap_or(0);
    let missing: Vec<u64> = seqs
        .values()
        .copied()
        .filter(|seq| *seq >= first && delivered.binary_search(seq).is_err())
        .collect();
    assert!(missing.is_empty(), "acked, never delivered: {missing:?}");

    let pool = env.pool().await;
    wait_until(
        "history to reach the last send",
        Duration::from_secs(30),
        || {
            let pool = pool.clone();
            async move {
                let at: i64 = sqlx::query_scalar(
                    "SELECT last_seq FROM projection_checkpoints WHERE name = 'history'",
                )
                .fetch_one(&pool)
                .await
                .ok()?;
                (at as u64 >= last).then_some(())
            }
        },
    )
    .await;
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT body, count(*) FROM messages WHERE room_id = $1 GROUP BY body")
            .bind(room)
            .fetch_all(&pool)
            .await
            .expect("history");
    assert_eq!(stored.len(), N, "every message stored");
    assert!(stored.iter().all(|(_, n)| *n == 1), "none twice");
    println!(
        "gateway kill -9 under load: {N} messages, {retried} retried on the other gateway; \
         lost 0, doubled 0; the reader (on the other gateway) resumed {reconnects} time(s)"
    );
    pool.close().await;
    survivor.stop().await;
    fanout.stop().await;
    projector.stop().await;
    env.cleanup().await;
}

/// A reconnect storm: 1,000 sockets that missed events all resume at once with `since`;
/// every one is recovered with exactly what it missed, in order.
#[tokio::test]
async fn a_storm_of_1000_sockets_resuming_at_once_recovers_every_one() {
    const SOCKETS: usize = 1000;
    const ROOMS: usize = 10;
    const MISSED: usize = 5;
    let env = TestEnv::new().await;
    let config = natter_gateway::GatewayConfig {
        max_connections_per_user: SOCKETS + 10,
        ..natter_testkit::gateway_config()
    };
    let natter = Natter::start_role(&env, natter_testkit::Role::All, config).await;
    let alice = Api::register(&natter.base, "alice").await;
    let mut rooms = Vec::new();
    for r in 0..ROOMS {
        rooms.push(alice.create_room(&format!("r{r}"), "public").await);
    }
    // Each socket's room and where it left off.
    let mut left_at = Vec::new();
    let mut epoch = String::new();
    for i in 0..SOCKETS {
        let room = rooms[i % ROOMS];
        let mut ws = Ws::connect(&natter.ws_url(), alice.token())
            .await
            .expect("ws");
        let reply = ws.subscribe(room).await;
        epoch = reply["epoch"].as_str().expect("epoch").to_owned();
        left_at.push((room, reply["last_seq"].as_u64().expect("last_seq")));
        ws.close().await;
    }
    let mut missed: BTreeMap<Uuid, Vec<u64>> = BTreeMap::new();
    for room in &rooms {
        for m in 0..MISSED {
            let seq = alice
                .send(*room, &format!("{room}-{m}"), "while away")
                .await;
            missed.entry(*room).or_default().push(seq);
        }
    }
    let started = Instant::now();
    let resumes = left_at.into_iter().map(|(room, since)| {
        let (url, token, epoch) = (natter.ws_url(), alice.token().to_owned(), epoch.clone());
        tokio::spawn(async move {
            let mut ws = Ws::connect(&url, &token).await.expect("reconnect");
            let reply = ws
                .ok(json!({"type": "subscribe", "room_id": room, "since": since, "epoch": epoch}))
                .await;
            let mut seqs = Vec::new();
            while seqs.len() < MISSED {
                let event = ws.next_of("event").await;
                if event["event"]["type"] == "message.posted" {
                    seqs.push(event["seq"].as_u64().expect("seq"));
                }
            }
            ws.close().await;
            (room, reply["recovered"] == true, seqs)
        })
    });
    let results = futures::future::join_all(resumes).await;
    let took = started.elapsed();
    let mut not_recovered = 0;
    for result in results {
        let (room, recovered, seqs) = result.expect("resume");
        if !recovered {
            not_recovered += 1;
        }
        assert_eq!(&seqs, &missed[&room], "exactly what it missed, in order");
    }
    assert_eq!(not_recovered, 0);
    println!(
        "reconnect storm: {SOCKETS} sockets resumed at once, {MISSED} missed each, all recovered in {:.2} s",
        took.as_secs_f64()
    );
    natter.stop().await;
    env.cleanup().await;
}
