//! natter on a NATS JetStream cluster: three nats-server nodes on loopback, named in
//! `NATS_URL` as a comma-separated list (as the README and `docker-compose.yml` write it),
//! the stream and the key bucket with three replicas.

use natter_testkit::{Api, NatterProcess, PrivateCluster, TestEnv, Ws};
use serde_json::json;

/// The stream `name`'s state as the cluster reports it.
async fn stream_info(urls: &str, name: &str) -> async_nats::jetstream::stream::Info {
    let client = async_nats::connect(natter_bus::server_list(urls).expect("the list"))
        .await
        .expect("the cluster");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(name).await.expect("the stream");
    stream.info().await.expect("its info").clone()
}

/// How many replicas the stream `name` has, and how many of them besides its leader the
/// cluster reports.
async fn replicas(urls: &str, name: &str) -> (usize, usize) {
    let info = stream_info(urls, name).await;
    let followers = info.cluster.as_ref().map_or(0, |c| c.replicas.len());
    (info.config.num_replicas, followers)
}

#[tokio::test]
async fn natter_runs_on_a_three_node_cluster_named_by_a_url_list() {
    let cluster = PrivateCluster::start().await;
    let mut env = TestEnv::new().await;
    env.conn.nats_url = cluster.urls();
    assert_eq!(env.conn.nats_url.split(',').count(), 3);
    let up = NatterProcess::spawn_with(&env, "up", &[("NATTER_STREAM_REPLICAS", "3")]).await;

    let alice = Api::register(&up.base, "alice").await;
    let bob = Api::register(&up.base, "bob").await;
    let room = alice.create_room("r", "public").await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert!(status.is_success());
    let mut b = Ws::connect(&up.ws_url(), bob.token())
        .await
        .expect("bob's socket");
    b.subscribe(room).await;
    for i in 0..10 {
        let (status, body) = alice
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"body": format!("m{i}"), "client_msg_id": format!("c{i}")}),
            )
            .await;
        assert_eq!(status.as_u16(), 201, "{body}");
    }
    let seqs = b.event_seqs(10).await;
    assert_eq!(seqs.len(), 10, "bob gets every message");

    let subjects = natter_bus::Subjects::new(&env.conn.namespace);
    for name in [
        subjects.stream_name(),
        format!("KV_{}", subjects.key_bucket()),
    ] {
        let (configured, followers) = replicas(&env.conn.nats_url, &name).await;
        println!("{name}: {configured} replicas, {followers} followers");
        assert_eq!((configured, followers), (3, 2), "{name}");
    }
    up.kill().await;
    env.cleanup().await;
}

/// Sends `body` until it is acked (the same `client_msg_id` each time, as a client retries),
/// for at most `bound`; the ack's seq and how long it took.
async fn send_until_acked(
    api: &Api,
    room: uuid::Uuid,
    client_msg_id: &str,
    bound: std::time::Duration,
) -> Option<(u64, std::time::Duration)> {
    let started = std::time::Instant::now();
    while started.elapsed() < bound {
        let (status, body) = api
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"body": client_msg_id, "client_msg_id": client_msg_id}),
            )
            .await;
        if status.as_u16() == 201 {
            return Some((body["seq"].as_u64().unwrap_or_default(), started.elapsed()));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}

/// The room's history (seq, body) once the read model has every acked send, asked with
/// `min_seq` and again as a client would, for up to 30 s; prints how long that took.
async fn history_when_caught_up(
    api: &Api,
    room: uuid::Uuid,
    acked: &[(u64, String)],
    up: &mut NatterProcess,
) -> Vec<(u64, String)> {
    let last = acked.iter().map(|(seq, _)| *seq).max().unwrap_or_default();
    let waited = std::time::Instant::now();
    let page = loop {
        if let Some(status) = up.exited() {
            panic!("natter exited ({status}): {}", up.troubles());
        }
        let (status, page) = api
            .get(&format!(
                "/v1/rooms/{room}/messages?limit=100&min_seq={last}"
            ))
            .await;
        if status.is_success() {
            break page;
        }
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(120),
            "history never reached seq {last}: {page} {}",
            up.troubles()
        );
    };
    println!(
        "history had every acked send {:?} after the last",
        waited.elapsed()
    );
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["seq"].as_u64().unwrap_or_default(),
                m["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// kill -9 of the node natter is connected to (named alone in `NATS_URL`: the client learns
/// the others from the cluster), the other two healthy: natter goes on through them. Every
/// send is retried by its client until acked; none is lost or doubled, and no role exits.
#[tokio::test]
async fn losing_the_node_natter_is_connected_to_is_latency_not_an_exit() {
    let mut cluster = PrivateCluster::start().await;
    let mut env = TestEnv::new().await;
    env.conn.nats_url = cluster.url(0);
    let mut up = NatterProcess::spawn_with(&env, "up", &[("NATTER_STREAM_REPLICAS", "3")]).await;
    let alice = Api::register(&up.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    for i in 0..5 {
        send_until_acked(
            &alice,
            room,
            &format!("before{i}"),
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("a send before the fault");
    }

    cluster.kill(0).await;
    let mut longest = std::time::Duration::ZERO;
    let mut acked = Vec::new();
    for i in 0..30 {
        if let Some(status) = up.exited() {
            panic!("natter exited ({status}): {}", up.troubles());
        }
        let id = format!("after{i}");
        let (seq, took) = send_until_acked(&alice, room, &id, std::time::Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("{id} was never acked: {}", up.troubles()));
        longest = longest.max(took);
        acked.push((seq, id));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    println!("longest stall of a send after the node's loss: {longest:?}");
    // Still running a while later (a role that gives up ends the process within its bound).
    for _ in 0..24 {
        if let Some(status) = up.exited() {
            panic!("natter exited ({status}): {}", up.troubles());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    let bodies = history_when_caught_up(&alice, room, &acked, &mut up).await;
    for (seq, id) in &acked {
        let found: Vec<_> = bodies.iter().filter(|(_, b)| b == id).collect();
        assert_eq!(found.len(), 1, "{id} once: {bodies:?}");
        assert_eq!(found[0].0, *seq, "{id} at its acked seq");
    }
    // Deliveries go on: a socket subscribed now gets a new message live, through the fan-out.
    let mut socket = Ws::connect(&up.ws_url(), alice.token())
        .await
        .expect("a socket");
    socket.subscribe(room).await;
    let (seq, _) = send_until_acked(&alice, room, "late", std::time::Duration::from_secs(10))
        .await
        .expect("a late send");
    assert_eq!(socket.event_seqs(1).await, [seq], "the late message, live");
    up.kill().await;
    env.cleanup().await;
}

/// kill -9 of the node leading the event stream, with sends under way, each sent once by its
/// client: natter sends an undecided append again (same bytes, same `Nats-Msg-Id`) while the
/// cluster elects a new leader, so the client sees a slower ack, not `unavailable`.
#[tokio::test]
async fn a_stream_leaders_loss_is_a_slower_ack_not_an_error() {
    let mut cluster = PrivateCluster::start().await;
    let mut env = TestEnv::new().await;
    env.conn.nats_url = cluster.urls();
    let mut up = NatterProcess::spawn_with(&env, "up", &[("NATTER_STREAM_REPLICAS", "3")]).await;
    let alice = Api::register(&up.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    let stream = natter_bus::Subjects::new(&env.conn.namespace).stream_name();
    let info = stream_info(&env.conn.nats_url, &stream).await;
    let leader = info
        .cluster
        .and_then(|c| c.leader)
        .expect("the stream's leader");
    let index = cluster.node_named(&leader).expect("a node of ours");
    println!("killing {leader}, the stream's leader");
    cluster.kill(index).await;

    let mut longest = std::time::Duration::ZERO;
    let mut acked = Vec::new();
    for i in 0..40 {
        let id = format!("m{i}");
        let started = std::time::Instant::now();
        let (status, body) = alice
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"body": id, "client_msg_id": id}),
            )
            .await;
        let took = started.elapsed();
        assert_eq!(
            status.as_u16(),
            201,
            "{id} after {took:?}: {body} {}",
            up.troubles()
        );
        assert_eq!(body["duplicate"], false, "{id}: {body}");
        longest = longest.max(took);
        acked.push((body["seq"].as_u64().unwrap_or_default(), id));
    }
    println!("longest send while the stream elected a leader: {longest:?}");
    assert!(
        longest <= natter_bus::RESEND_BOUND + std::time::Duration::from_secs(10),
        "{longest:?}"
    );
    assert!(up.exited().is_none(), "natter exited: {}", up.troubles());
    let bodies = history_when_caught_up(&alice, room, &acked, &mut up).await;
    for (seq, id) in &acked {
        let found: Vec<_> = bodies.iter().filter(|(_, b)| b == id).collect();
        assert_eq!(found.len(), 1, "{id} once: {bodies:?}");
        assert_eq!(found[0].0, *seq, "{id} at its acked seq");
    }
    up.kill().await;
    env.cleanup().await;
}
