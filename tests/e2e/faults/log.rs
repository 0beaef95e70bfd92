//! The log itself in trouble while natter runs: lost (NATS loses its store and comes back
//! empty) and full (the stream at its size limit). natter says so (clients: `unavailable`
//! with the reason; operators: `/readyz`, a metric, a log line) and creates or appends
//! nothing in a log that is not the one it started on.

use std::time::Duration;

use natter_testkit::{Api, NatterProcess, PrivateNats, TestEnv, wait_until};
use serde_json::json;

use crate::identity::run;

/// `/readyz` once its `log` check says `what`.
async fn ready_says(base: &str, what: &str) -> (u16, serde_json::Value) {
    let anon = Api::anonymous(base);
    wait_until(
        &format!("/readyz to say the log is {what}"),
        Duration::from_secs(20),
        || async {
            let (status, ready) = anon.get("/readyz").await;
            (ready["checks"]["log"] == what).then(|| (status.as_u16(), ready))
        },
    )
    .await
}

/// NATS loses its store under a running natter and comes back empty: natter notices (within
/// seconds), refuses sends with the reason, reports it in `/readyz`, and creates no stream or
/// key bucket in the empty NATS; a new start refuses too, naming the lost log.
#[tokio::test]
async fn a_log_lost_under_natter_is_refused_not_replaced() {
    let mut nats = PrivateNats::start().await;
    let mut env = TestEnv::new().await;
    env.conn.nats_url = nats.url();
    let mut up = NatterProcess::spawn(&env, "up").await;
    let alice = Api::register(&up.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    alice.send(room, "1", "before").await;

    nats.wipe().await;
    let lost_at = std::time::Instant::now();
    let (status, ready) = ready_says(&up.base, "lost").await;
    println!("the log's loss noticed after {:?}", lost_at.elapsed());
    assert_eq!(status, 503, "{ready}");
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "after", "client_msg_id": "2"}),
        )
        .await;
    assert_eq!(status.as_u16(), 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("gone")),
        "{body}"
    );
    // Some seconds later: still running, and nothing made in the empty NATS.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(up.exited().is_none(), "natter exited: {}", up.troubles());
    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let subjects = natter_bus::Subjects::new(&env.conn.namespace);
    for name in [
        subjects.stream_name(),
        format!("KV_{}", subjects.key_bucket()),
    ] {
        assert!(js.get_stream(&name).await.is_err(), "{name} was created");
    }
    assert!(
        up.troubles()
            .contains("the log this process started on is lost"),
        "{}",
        up.troubles()
    );
    up.kill().await;

    let (code, out, err) = run(&env, &["up"]).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("is not in NATS"), "{err}");
    assert!(
        js.get_stream(subjects.stream_name()).await.is_err(),
        "a refused start creates nothing"
    );
    env.cleanup().await;
}

/// The stream at its size limit: sends are refused `unavailable` saying the log is full,
/// `/readyz` says `full` (503) and the metric is set, the log says so once per interval
/// rather than per send; once there is room, sends go through and readiness is back.
#[tokio::test]
async fn a_full_log_is_said_once_and_clearly() {
    let env = TestEnv::new().await;
    let mut up = NatterProcess::spawn(&env, "up").await;
    let alice = Api::register(&up.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    alice.send(room, "1", "before").await;

    let bus = env.bus().await;
    let js = async_nats::jetstream::new(bus.client().clone());
    let name = bus.subjects().stream_name();
    let mut stream = js.get_stream(&name).await.expect("stream");
    let info = stream.info().await.expect("info").clone();
    let mut config = info.config.clone();
    config.max_bytes = i64::try_from(info.state.bytes).expect("bytes") + 64;
    config.discard = async_nats::jetstream::stream::DiscardPolicy::New;
    js.update_stream(config.clone()).await.expect("limit");

    let mut refused = 0;
    for i in 0..40 {
        let (status, body) = alice
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"body": "x".repeat(200), "client_msg_id": format!("f{i}")}),
            )
            .await;
        assert_ne!(status.as_u16(), 500, "{body}");
        if status.as_u16() == 503 {
            assert_eq!(body["error"]["code"], "unavailable", "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("full")),
                "{body}"
            );
            refused += 1;
        }
    }
    assert!(refused >= 39, "{refused} refused");
    let (status, ready) = ready_says(&up.base, "full").await;
    assert_eq!(status, 503, "{ready}");
    let metrics = reqwest::get(format!("{}/metrics", up.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("natter_log_full 1"), "{metrics}");
    let said = up.troubles().matches("its storage is full").count();
    assert!(
        (1..=2).contains(&said),
        "said {said} times: {}",
        up.troubles()
    );

    config.max_bytes = -1;
    js.update_stream(config).await.expect("room again");
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "after", "client_msg_id": "after"}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let (status, ready) = ready_says(&up.base, "ok").await;
    assert_eq!(status, 200, "{ready}");
    assert!(up.exited().is_none(), "{}", up.troubles());
    up.kill().await;
    env.cleanup().await;
}
