//! natter on a NATS JetStream cluster: three nats-server nodes on loopback, named in
//! `NATS_URL` as a comma-separated list (as the README and `docker-compose.yml` write it),
//! the stream and the key bucket with three replicas. A node's loss and other faults under
//! load are in `faults::cluster`.

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
