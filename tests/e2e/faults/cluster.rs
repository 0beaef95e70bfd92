//! natter on a three-node JetStream cluster (stream and key bucket with three replicas) under
//! a steady load, one node's trouble at a time: killed (the node natter is connected to, the
//! event stream's leader, the meta leader, the key bucket's leader), hung (SIGSTOP for 15 s),
//! restarted with its store wiped; and every node killed and restarted. Each test prints its figures: the longest a send waited
//! for its ack, the longest an acked message took to reach the read model and a socket, and
//! acked / lost / doubled. Nothing acked is lost or doubled, and natter never exits.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natter_bus::Subjects;
use natter_testkit::{Api, NatterProcess, PrivateCluster, TestEnv, wait_until};
use uuid::Uuid;

use super::{
    Delivered, assert_delivered_once, assert_stored_once, resuming_reader, retrying_sender,
    stored_counts,
};
use crate::replay::caught_up_to;

/// How long the load goes on after the fault.
const LOAD_AFTER: Duration = Duration::from_secs(20);
/// Sends per second.
const RATE: u64 = 50;
/// The longest an acked message may take to reach the read model and a socket, however the
/// fault fell. The aim is 10 s (seen here: at most 8.8 s to a socket, 5.7 s to the read model,
/// most often 0.1 s); a socket that resumes after losing its node waits for a consumer, which
/// the cluster places only once it has elected its leaders (5-8.5 s on these 2 cores), so the
/// bound a run must hold leaves room for a slow election.
const RESUMED_WITHIN: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// kill -9 of the node natter's connection is on.
    NattersNode,
    /// kill -9 of the event stream's leader.
    StreamLeader,
    /// kill -9 of JetStream's meta leader.
    MetaLeader,
    /// kill -9 of the key bucket's leader, with people registering meanwhile.
    KeyLeader,
    /// SIGSTOP of natter's node for 15 s, then SIGCONT.
    Hung,
    /// The stream leader killed, its store wiped, and started again: it rejoins and catches up.
    Wiped,
    /// Every node killed, and all started again 3 s later (the fault the single-server test
    /// makes, on the cluster).
    AllRestarted,
}

/// Samples of a growing seq (the newest in the read model, or delivered to a socket), taken
/// every 50 ms until stopped.
type Samples = Arc<Mutex<Vec<(Instant, u64)>>>;

/// The longest time from an ack to the first sample that had reached its seq.
fn longest_lag(acked_at: &[(u64, Instant)], samples: &[(Instant, u64)]) -> Duration {
    acked_at
        .iter()
        .map(|(seq, at)| {
            samples
                .iter()
                .find(|(_, reached)| reached >= seq)
                .map_or(Duration::MAX, |(when, _)| {
                    when.saturating_duration_since(*at)
                })
        })
        .max()
        .unwrap_or_default()
}

/// Registers someone new every 250 ms until `stop`, each retried until it is answered 201 (a
/// person's key goes into the key bucket); how many and the longest one took. As a client
/// would: a registration whose answer was lost (a 503 after its event was stored) is answered
/// 409 "username is taken" when tried again, and signing in with its password says it was
/// this one.
fn registering(base: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<(usize, Duration)> {
    tokio::spawn(async move {
        let anon = Api::anonymous(&base);
        let (mut done, mut longest) = (0, Duration::ZERO);
        while !stop.load(Ordering::SeqCst) {
            let name = format!("p{:08x}", rand::random::<u32>());
            let started = Instant::now();
            let mut tried = false;
            loop {
                let account = serde_json::json!({"username": name, "password": "password123"});
                let (status, body) = anon.post("/v1/auth/register", account.clone()).await;
                if status.as_u16() == 201 {
                    break;
                }
                if status.as_u16() == 409 && tried {
                    let (signed_in, _) = anon.post("/v1/auth/login", account).await;
                    if signed_in.is_success() {
                        break;
                    }
                }
                tried = true;
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "{name} not registered after 60 s: {status} {body}"
                );
                assert!(body["error"]["code"].is_string(), "{status} {body}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            done += 1;
            longest = longest.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        (done, longest)
    })
}

async fn survive(fault: Fault) {
    let mut cluster = PrivateCluster::start().await;
    let mut env = TestEnv::new().await;
    // Connected to node 0 alone (the client learns the others from the cluster) where the
    // fault is that node's; otherwise to the list, as the README writes it.
    env.conn.nats_url = match fault {
        Fault::NattersNode | Fault::Hung => cluster.url(0),
        _ => cluster.urls(),
    };
    let mut up = NatterProcess::spawn_with(&env, "up", &[("NATTER_STREAM_REPLICAS", "3")]).await;
    let alice = Api::register(&up.base, "alice").await;
    let room: Uuid = alice.create_room("r", "public").await;
    let subjects = Subjects::new(&env.conn.namespace);
    let (stream, bucket) = (
        subjects.stream_name(),
        format!("KV_{}", subjects.key_bucket()),
    );
    let pool = env.pool().await;

    let stop_sending = Arc::new(AtomicBool::new(false));
    let stop_reading = Arc::new(AtomicBool::new(false));
    let delivered = Delivered::default();
    let reader = resuming_reader(
        up.ws_url(),
        alice.token().to_owned(),
        room,
        delivered.clone(),
        stop_reading.clone(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sender = retrying_sender(
        vec![up.base.clone()],
        alice.token().to_owned(),
        room,
        RATE,
        None,
        stop_sending.clone(),
    );
    // The read model's newest seq and the socket's, sampled.
    let (history, sockets) = (Samples::default(), Samples::default());
    let sampler = {
        let (history, sockets, delivered) = (history.clone(), sockets.clone(), delivered.clone());
        let (pool, stop) = (pool.clone(), stop_reading.clone());
        tokio::spawn(async move {
            loop {
                // A last sample once stopped: the socket has every acked seq by then.
                let stopping = stop.load(Ordering::SeqCst);
                let newest: Option<i64> =
                    sqlx::query_scalar("SELECT max(seq) FROM messages WHERE room_id = $1")
                        .bind(room)
                        .fetch_one(&pool)
                        .await
                        .unwrap_or_default();
                let now = Instant::now();
                let newest = u64::try_from(newest.unwrap_or(0)).unwrap_or(0);
                history.lock().expect("samples").push((now, newest));
                let last = delivered.lock().expect("seqs").last().copied();
                sockets
                    .lock()
                    .expect("samples")
                    .push((now, last.unwrap_or(0)));
                if stopping {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    let node = match fault {
        Fault::NattersNode | Fault::Hung | Fault::AllRestarted => Some(0),
        Fault::StreamLeader | Fault::Wiped => cluster.leader_of(&stream).await,
        Fault::MetaLeader => cluster.meta_leader().await,
        Fault::KeyLeader => cluster.leader_of(&bucket).await,
    }
    .unwrap_or_else(|| panic!("the node for {fault:?}"));
    let registrations =
        (fault == Fault::KeyLeader).then(|| registering(up.base.clone(), stop_sending.clone()));
    let before = [
        cluster.meta_leader().await,
        cluster.leader_of(&stream).await,
        cluster.leader_of(&bucket).await,
    ];
    println!(
        "{fault:?}: node {node} (meta leader {:?}, stream leader {:?}, key bucket leader {:?})",
        before[0], before[1], before[2]
    );
    // Whether the node led something, so that the cluster must elect (a hung node is not
    // asked: its monitoring port hangs too).
    let led = !matches!(fault, Fault::Hung | Fault::AllRestarted) && before.contains(&Some(node));
    let mut elected: Option<Duration> = None;
    let at = Instant::now();
    match fault {
        Fault::Hung => cluster.pause(node),
        Fault::Wiped => cluster.wipe(node).await,
        Fault::AllRestarted => {
            for i in 0..3 {
                cluster.kill(i).await;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.restart_all().await;
        }
        _ => cluster.kill(node).await,
    }
    let mut resumed = false;
    while at.elapsed() < LOAD_AFTER {
        if let Some(status) = up.exited() {
            panic!("natter exited ({status}): {}", up.troubles());
        }
        if led && elected.is_none() {
            let now = [
                cluster.meta_leader().await,
                cluster.leader_of(&stream).await,
                cluster.leader_of(&bucket).await,
            ];
            if now.iter().all(|l| l.is_some_and(|l| l != node)) {
                elected = Some(at.elapsed());
            }
        }
        if fault == Fault::Hung && !resumed && at.elapsed() >= Duration::from_secs(15) {
            cluster.resume(node);
            resumed = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop_sending.store(true, Ordering::SeqCst);
    let sent = sender.await.expect("sender");
    let registered = match registrations {
        Some(task) => Some(task.await.expect("registrations")),
        None => None,
    };
    let last = sent.acked.values().copied().max().unwrap_or(0);
    caught_up_to(&pool, last).await;

    let stored = stored_counts(&pool, room).await;
    assert_stored_once(&stored, &sent.acked);
    let expected: BTreeSet<&str> = sent.acked.keys().map(String::as_str).collect();
    let kept: BTreeSet<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(kept, expected, "history holds exactly the acked messages");
    let reconnects =
        assert_delivered_once(reader, &delivered, &stop_reading, &sent.acked, last).await;
    sampler.await.expect("sampler");
    let history_lag = longest_lag(&sent.acked_at, &history.lock().expect("samples"));
    let socket_lag = longest_lag(&sent.acked_at, &sockets.lock().expect("samples"));
    if fault == Fault::Wiped {
        let rejoined = Instant::now();
        wait_until(
            "the wiped node to catch up",
            Duration::from_secs(60),
            || async { (cluster.replicas_current(&stream).await == Some((true, 3))).then_some(()) },
        )
        .await;
        println!(
            "{fault:?}: every replica current {:.1} s after the sends ended",
            rejoined.elapsed().as_secs_f64()
        );
    }
    assert!(up.exited().is_none(), "natter exited: {}", up.troubles());
    println!(
        "{fault:?} at {RATE} sends/s: {} acked, lost 0, doubled 0; refused {:?}, retried {}; \
         leaders elected {}; longest send {:.1} s; longest from ack to the read model {:.1} s, to a socket {:.1} s; \
         the socket resumed {reconnects} time(s){}",
        sent.acked.len(),
        sent.refused,
        sent.retried,
        elected.map_or("(none lost)".to_owned(), |e| format!(
            "after {:.1} s",
            e.as_secs_f64()
        )),
        sent.longest.as_secs_f64(),
        history_lag.as_secs_f64(),
        socket_lag.as_secs_f64(),
        registered.map_or(String::new(), |(n, longest)| format!(
            "; {n} registered, the longest {:.1} s",
            longest.as_secs_f64()
        )),
    );
    assert!(
        sent.longest <= natter_bus::RESEND_BOUND + Duration::from_secs(5),
        "a send waited {:?}",
        sent.longest
    );
    assert!(
        history_lag <= RESUMED_WITHIN && socket_lag <= RESUMED_WITHIN,
        "an acked message took {history_lag:?} to reach the read model, {socket_lag:?} a socket: {}",
        up.troubles()
    );
    pool.close().await;
    up.kill().await;
    env.cleanup().await;
}

#[tokio::test]
async fn losing_natters_node_is_latency() {
    survive(Fault::NattersNode).await;
}

#[tokio::test]
async fn losing_the_stream_leader_is_latency() {
    survive(Fault::StreamLeader).await;
}

#[tokio::test]
async fn losing_the_meta_leader_is_latency() {
    survive(Fault::MetaLeader).await;
}

#[tokio::test]
async fn losing_the_key_buckets_leader_is_latency() {
    survive(Fault::KeyLeader).await;
}

#[tokio::test]
async fn a_hung_node_is_latency() {
    survive(Fault::Hung).await;
}

#[tokio::test]
async fn a_node_back_with_its_store_wiped_catches_up() {
    survive(Fault::Wiped).await;
}

#[tokio::test]
async fn the_whole_cluster_restarted_is_an_outage_then_nothing_lost() {
    survive(Fault::AllRestarted).await;
}
