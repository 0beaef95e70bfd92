//! nats-server killed under load and restarted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use natter_testkit::{Api, Natter, PrivateNats, TestEnv, wait_until};
use serde_json::json;

use super::{
    Delivered, assert_delivered_once, assert_stored_once, resuming_reader, retrying_sender,
    stored_counts,
};
use crate::replay::caught_up_to;

/// nats-server SIGKILLed under load and restarted 3 s later: sends meanwhile are refused
/// (never a false ack) and retried with the same client id until acked; afterwards every
/// message is in history once (a send refused after the log stored it is not doubled by its
/// retry) and reaches a socket that resumes by itself once; the read models resume soon after
/// the log is back.
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
    let sender = retrying_sender(
        vec![natter.base.clone()],
        alice.token().to_owned(),
        room,
        200,
        None,
        stop_sending.clone(),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.kill().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    nats.restart().await;
    let back = Instant::now();
    // The first send acked after the restart, and how long until the read models show it.
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
    caught_up_to(&pool, probe).await;
    let read_models_back = back.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_sending.store(true, std::sync::atomic::Ordering::SeqCst);
    let sent = sender.await.expect("sender");
    let last = sent.acked.values().copied().max().unwrap_or(0).max(probe);
    caught_up_to(&pool, last).await;

    // History: every acked message once, and nothing that was not acked.
    let stored = stored_counts(&pool, room).await;
    assert_stored_once(&stored, &sent.acked);
    let mut expected: BTreeSet<&str> = sent.acked.keys().map(String::as_str).collect();
    expected.insert("probe");
    let kept: BTreeSet<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(kept, expected, "history holds exactly the acked messages");

    // The socket: every acked message delivered once, in order, across its resumes.
    let reconnects =
        assert_delivered_once(reader, &delivered, &stop_reading, &sent.acked, last).await;
    assert!(reconnects >= 1, "the socket was closed and resumed");
    println!(
        "nats kill -9, restarted after 3 s, 200 sends/s: {} acked, refused {:?} (each retried until acked); \
         lost 0, doubled 0; appends back {:.1} s and read models {:.1} s after the restart; \
         the socket resumed {reconnects} time(s)",
        sent.acked.len(),
        sent.refused,
        appends_back.as_secs_f64(),
        read_models_back.as_secs_f64(),
    );
    pool.close().await;
    natter.stop().await;
    env.cleanup().await;
}

/// A hung nats-server (SIGSTOP; natter's pings set far apart, so that it stays on it): a
/// socket's send waits at most the send bound and is answered `unavailable`, while frames read
/// after it (a ping) are answered at once; a REST send is bounded the same way. Once NATS
/// answers again, the same sends go through, each stored once.
#[tokio::test]
async fn a_slow_send_holds_no_other_frame_and_is_bounded() {
    let nats = PrivateNats::start().await;
    let mut env = TestEnv::new().await;
    env.conn.nats_url = nats.url();
    let up = natter_testkit::NatterProcess::spawn_with(
        &env,
        "up",
        &[("NATS_PING_INTERVAL_SECS", "300")],
    )
    .await;
    let alice = Api::register(&up.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    let mut ws = natter_testkit::Ws::connect(&up.ws_url(), alice.token())
        .await
        .expect("ws");
    let first = ws.send_message(room, "before", "before").await;
    assert!(first["seq"].is_u64(), "{first}");

    nats.pause();
    let bound = natter_actions::commands::SEND_BOUND;
    let started = Instant::now();
    // A REST send at the same time, bounded the same way.
    let rest = {
        let alice = alice.clone();
        tokio::spawn(async move {
            let (status, body) = alice
                .post(
                    &format!("/v1/rooms/{room}/messages"),
                    json!({"body": "rest", "client_msg_id": "rest"}),
                )
                .await;
            (status, body, started.elapsed())
        })
    };
    ws.send_json(json!({"type": "send", "id": "s", "room_id": room, "client_msg_id": "held", "body": "held"}))
        .await;
    ws.send_json(json!({"type": "ping", "id": "p"})).await;
    let mut pong_after = None;
    let reply = loop {
        let frame = tokio::time::timeout(bound + Duration::from_secs(5), ws.next_any())
            .await
            .expect("the send is answered within its bound")
            .expect("the socket stays open");
        if frame["type"] == "pong" || (frame["type"] == "reply" && frame["id"] == "p") {
            pong_after.get_or_insert(started.elapsed());
        } else if frame["type"] == "reply" && frame["id"] == "s" {
            break frame;
        }
    };
    let answered = started.elapsed();
    let pong_after = pong_after.expect("the ping was answered before the send");
    assert!(
        pong_after < Duration::from_secs(2),
        "pong after {pong_after:?}"
    );
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "unavailable", "{reply}");
    assert!(answered <= bound + Duration::from_secs(2), "{answered:?}");
    let (status, body, rest_answered) = rest.await.expect("the REST send");
    assert_eq!(status.as_u16(), 503, "{body}");
    assert!(
        rest_answered <= bound + Duration::from_secs(2),
        "{rest_answered:?}"
    );
    println!(
        "hung NATS: the ping answered after {pong_after:?}, the send refused after {answered:?}, a REST send after {rest_answered:?} (bound {bound:?})"
    );

    nats.resume();
    for id in ["held", "rest"] {
        let seq = wait_until(
            "the send to go through",
            Duration::from_secs(30),
            || async {
                let (status, reply) = alice
                    .post(
                        &format!("/v1/rooms/{room}/messages"),
                        json!({"body": id, "client_msg_id": id}),
                    )
                    .await;
                status.is_success().then(|| reply["seq"].as_u64()).flatten()
            },
        )
        .await;
        let (_, page) = alice
            .get(&format!("/v1/rooms/{room}/messages?min_seq={seq}"))
            .await;
        let stored = page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["body"] == id)
            .count();
        assert_eq!(stored, 1, "{id} once: {page}");
    }
    up.kill().await;
    env.cleanup().await;
}
