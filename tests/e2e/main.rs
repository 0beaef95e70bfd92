//! End-to-end scenarios against the real NATS, Postgres and Redis, each in its own namespace,
//! driven through the public REST and WebSocket surface.

mod actions;
mod admin;
mod auth;
mod bench;
mod blocking;
mod calls;
mod cluster;
mod config;
mod connections;
mod consent;
mod content;
mod conversations;
mod cors;
mod delivery;
mod docs;
mod e2ee;
mod erasure;
mod faults;
mod files;
mod gifs;
mod history;
mod idempotency;
mod identity;
mod input;
mod inspect;
mod limits;
mod markdown;
mod marks;
mod messages;
mod moderation;
mod nats_auth;
mod nats_cluster;
mod natter_js;
mod ops;
mod people;
mod presence;
mod previews;
mod privacy;
mod profiles;
mod projector;
mod push;
mod reading;
mod receipts;
mod replay;
mod replay_log;
mod resume;
mod rooms;
mod search;
mod security;
mod sendcheck;
mod sessions;
mod sockets;
mod suite;
mod terminal;
mod together;
mod typing;
mod vault;
mod void;
mod web;
mod ws_auth;

use std::time::Duration;

use natter_testkit::{Api, Natter, TestEnv, Ws};
use uuid::Uuid;

/// One natter (all roles) in a fresh namespace.
pub struct Setup {
    pub env: TestEnv,
    pub natter: Natter,
}

impl Setup {
    pub async fn new() -> Self {
        let env = TestEnv::new().await;
        let natter = Natter::start(&env).await;
        Self { env, natter }
    }

    pub async fn with_gateway(config: natter_gateway::GatewayConfig) -> Self {
        let env = TestEnv::new().await;
        let natter = Natter::start_role(&env, natter_testkit::Role::All, config).await;
        Self { env, natter }
    }

    pub async fn user(&self, name: &str) -> Api {
        Api::register(&self.natter.base, name).await
    }

    pub async fn ws(&self, api: &Api) -> Ws {
        Ws::connect(&self.natter.ws_url(), api.token())
            .await
            .expect("ws connect")
    }

    pub async fn finish(self) {
        self.natter.stop().await;
        self.env.cleanup().await;
    }
}

/// A file of this crate's scenarios (`tests/...`), for the programs that run them.
pub fn scenario_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a scenario in another program (a browser, pseudo-terminals, Node.js) and fails with
/// its output unless it succeeds; `needs` names what `scripts/test` installs for it.
pub async fn run_scenario(mut command: tokio::process::Command, needs: &str) {
    use tokio::io::AsyncReadExt;
    // Ended before nextest's own limit, so that what the scenario printed until then shows.
    const LIMIT: Duration = Duration::from_secs(150);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the scenario ({e}): scripts/test installs {needs}"));
    let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    let pipes: [Box<dyn tokio::io::AsyncRead + Unpin + Send>; 2] = [
        Box::new(child.stdout.take().expect("stdout")),
        Box::new(child.stderr.take().expect("stderr")),
    ];
    for mut pipe in pipes {
        let printed = printed.clone();
        readers.push(tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                printed
                    .lock()
                    .expect("output")
                    .extend_from_slice(&chunk[..n]);
            }
        }));
    }
    let status = tokio::time::timeout(LIMIT, child.wait()).await;
    if status.is_err() {
        let _ = child.kill().await;
    }
    for reader in readers {
        let _ = reader.await;
    }
    let printed = String::from_utf8_lossy(&printed.lock().expect("output")).into_owned();
    match status {
        Ok(Ok(status)) if status.success() => println!("{printed}"),
        Ok(Ok(status)) => {
            panic!("the scenario failed ({status}); scripts/test installs {needs}\n{printed}")
        }
        Ok(Err(e)) => panic!("the scenario could not be waited for: {e}\n{printed}"),
        Err(_) => panic!(
            "the scenario did not end within {} s; what it printed:\n{printed}",
            LIMIT.as_secs()
        ),
    }
}

/// Gateway, projector and fan-out as separate roles (so one can be stopped or killed), with
/// a registered user, a public room, and that user's socket subscribed to it.
pub async fn split_roles(env: &TestEnv) -> (Natter, Natter, Natter, Api, Uuid, Ws) {
    use natter_testkit::Role;
    let gateway = Natter::start_role(env, Role::Gateway, natter_testkit::gateway_config()).await;
    let projector =
        Natter::start_role(env, Role::Projector, natter_testkit::gateway_config()).await;
    let fanout = Natter::start_role(env, Role::Fanout, natter_testkit::gateway_config()).await;
    let alice = Api::register(&gateway.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    let mut ws = Ws::connect(&gateway.ws_url(), alice.token())
        .await
        .expect("ws");
    ws.subscribe(room).await;
    (gateway, projector, fanout, alice, room, ws)
}

/// Sends `n` messages over REST, one after another, in a task; it returns their seqs.
pub fn send_in_background(api: &Api, room: Uuid, n: usize) -> tokio::task::JoinHandle<Vec<u64>> {
    let sender = api.clone();
    tokio::spawn(async move {
        let mut seqs = Vec::with_capacity(n);
        for i in 0..n {
            seqs.push(sender.send(room, &format!("m{i}"), "x").await);
        }
        seqs
    })
}

/// Reads history pages until the room holds `n` messages (the projection is asynchronous).
pub async fn wait_history(api: &Api, room: Uuid, n: usize) -> Vec<serde_json::Value> {
    natter_testkit::wait_until("history to catch up", Duration::from_secs(20), || async {
        let (_, page) = api
            .get(&format!("/v1/rooms/{room}/messages?limit=100"))
            .await;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        (messages.len() >= n).then_some(messages)
    })
    .await
}

/// A room's id in a REST answer.
pub fn id_of(room: &serde_json::Value) -> Uuid {
    room["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("room id")
}

/// The ids of a `GET /v1/rooms` answer's rooms, in order.
pub fn room_ids(list: &serde_json::Value) -> Vec<Uuid> {
    list["rooms"]
        .as_array()
        .map(|rooms| rooms.iter().map(id_of).collect())
        .unwrap_or_default()
}
