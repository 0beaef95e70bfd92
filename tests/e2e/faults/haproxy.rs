//! The scaled topology of `scripts/cluster` (3 NATS nodes, two gateways and the other roles
//! as processes of their own, HAProxy in front): a gateway killed with 500 sockets open through
//! HAProxy. Its sockets reconnect through HAProxy to the other gateway and resume with
//! `since`; nothing is lost or doubled.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use natter_testkit::{Api, TestEnv, natter_binary};

use super::{
    Delivered, assert_delivered_once, assert_stored_once, resuming_reader, retrying_sender,
    stored_counts,
};
use crate::replay::caught_up_to;

/// How many sockets are open through HAProxy.
const SOCKETS: usize = 500;

/// `scripts/cluster` with its own directory, ports and database; `down --purge` when dropped.
struct Cluster {
    dir: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
}

impl Cluster {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster")
    }

    async fn run(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(Self::script())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .expect("scripts/cluster")
    }

    async fn up(env: &TestEnv) -> Self {
        // Below the kernel's ephemeral ports (32768 on), which any connection may take.
        let base = 20_000 + 500 * u16::try_from(rand::random::<u32>() % 24).unwrap_or(0);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("natter-cluster-{base}-{port}"));
        let vars = [
            ("NATTER_CLUSTER_DIR", dir.display().to_string()),
            ("NATTER_CLUSTER_PORT", port.to_string()),
            ("NATTER_CLUSTER_BASE", base.to_string()),
            ("NATTER_BIN", natter_binary().display().to_string()),
            ("NATTER_NAMESPACE", env.conn.namespace.to_string()),
            ("DATABASE_URL", env.conn.database_url.clone()),
            ("NATTER_LOG_FORMAT", "json".to_owned()),
            // One person's 500 sockets (20 per gateway by default).
            (
                "NATTER_MAX_CONNECTIONS_PER_USER",
                (SOCKETS + 10).to_string(),
            ),
            // One sender at 20 messages a second.
            ("NATTER_RATE_MESSAGES", "1000/10s".to_owned()),
        ];
        let cluster = Self {
            dir,
            port,
            env: vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        };
        let out = cluster.run(&["up"]).await;
        assert!(
            out.status.success(),
            "scripts/cluster up: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The warnings and errors in a process's log (its last 20).
    fn log_tail(&self, name: &str) -> String {
        let log = std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
        let troubles: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
            .collect();
        troubles[troubles.len().saturating_sub(20)..].join("\n")
    }

    fn pid(&self, name: &str) -> u32 {
        std::fs::read_to_string(self.dir.join(format!("{name}.pid")))
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A failed test keeps the logs.
        let how = if std::thread::panicking() {
            "--keep"
        } else {
            "--purge"
        };
        let _ = std::process::Command::new(Self::script())
            .args(["down", how])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output();
    }
}

#[tokio::test]
async fn a_gateway_killed_behind_haproxy_costs_its_sockets_a_resume() {
    let env = TestEnv::new().await;
    let cluster = Cluster::up(&env).await;
    let out = cluster.run(&["status"]).await;
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(status.contains("gateway-2"), "{status}");
    assert!(status.contains("3 replicas"), "{status}");

    let base = cluster.base();
    let alice = Api::register(&base, "alice").await;
    let room = alice.create_room("r", "public").await;
    let ws_url = format!("{}/v1/ws", base.replacen("http", "ws", 1));
    let stop_reading = Arc::new(AtomicBool::new(false));
    let readers: Vec<(Delivered, tokio::task::JoinHandle<usize>)> = (0..SOCKETS)
        .map(|_| {
            let delivered = Delivered::default();
            let reader = resuming_reader(
                ws_url.clone(),
                alice.token().to_owned(),
                room,
                delivered.clone(),
                stop_reading.clone(),
            );
            (delivered, reader)
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stop_sending = Arc::new(AtomicBool::new(false));
    let sender = retrying_sender(
        vec![base.clone()],
        alice.token().to_owned(),
        room,
        20,
        None,
        stop_sending.clone(),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed = cluster.pid("gateway-1");
    let status = std::process::Command::new("kill")
        .args(["-9", &killed.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop_sending.store(true, Ordering::SeqCst);
    let sent = sender.await.expect("sender");
    let last = sent.acked.values().copied().max().unwrap_or(0);
    let pool = env.pool().await;
    caught_up_to(&pool, last).await;
    assert_stored_once(&stored_counts(&pool, room).await, &sent.acked);

    // Every socket has the last acked message before any is stopped (they share one stop).
    let waited = Instant::now();
    loop {
        let behind: Vec<(usize, Option<u64>)> = readers
            .iter()
            .map(|(d, _)| d.lock().expect("seqs").clone())
            .filter(|seqs| !seqs.contains(&last))
            .map(|seqs| (seqs.len(), seqs.last().copied()))
            .collect();
        if behind.is_empty() {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "{} of {SOCKETS} sockets never got seq {last} (acked {}): (delivered, last) {:?}; gateway-2: {}",
            behind.len(),
            sent.acked.len(),
            &behind[..behind.len().min(10)],
            cluster.log_tail("gateway-2")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let caught_up = waited.elapsed();
    let mut resumed = 0;
    let mut resumed_sockets = 0;
    for (delivered, reader) in readers {
        let times =
            assert_delivered_once(reader, &delivered, &stop_reading, &sent.acked, last).await;
        resumed += times;
        resumed_sockets += usize::from(times > 0);
    }
    println!(
        "a gateway kill -9 behind HAProxy with {SOCKETS} sockets open: {resumed_sockets} sockets resumed ({resumed} resumes) on the other gateway; \
         {} sends acked (refused {:?}, retried {}, the longest {:.1} s), lost 0, doubled 0 in history and on every socket; every socket had every acked message {:.1} s after the last ack",
        sent.acked.len(),
        sent.refused,
        sent.retried,
        sent.longest.as_secs_f64(),
        caught_up.as_secs_f64()
    );
    assert!(resumed_sockets > 0, "the killed gateway held some sockets");
    pool.close().await;
    drop(cluster);
    env.cleanup().await;
}
