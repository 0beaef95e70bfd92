use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::Setup;
use natter_testkit::{Api, Natter, NatterProcess, Role, TestEnv, Ws};

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let s = Setup::new().await;
    let anon = Api::anonymous(&s.natter.base);
    let (status, health) = anon.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    let (status, ready) = anon.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    for server in ["nats", "log", "postgres", "redis"] {
        assert_eq!(ready["checks"][server], "ok");
    }
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    alice.send(room, "1", "counted").await;
    let (status, metrics) = anon.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().expect("text");
    assert!(text.contains("natter_messages_sent_total"), "{text}");
    let (status, doc) = anon.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/v1/rooms/{id}/messages"]["get"].is_object());
    let (status, body) = anon.get("/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    s.finish().await;
}

#[tokio::test]
async fn oversized_frames_close_with_1009_and_oversized_bodies_are_413() {
    let config = natter_gateway::GatewayConfig {
        max_frame_bytes: 4096,
        max_json_bytes: 4096,
        ..natter_testkit::gateway_config()
    };
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let mut big = s.ws(&alice).await;
    let mut other = s.ws(&alice).await;
    other.subscribe(room).await;
    big.send_json(
        json!({"type": "send", "room_id": room, "client_msg_id": "x", "body": "b".repeat(8000)}),
    )
    .await;
    let closed = big.closed().await;
    assert_eq!(closed.code, Some(1009), "{closed:?}");
    // Other sockets are unaffected.
    other.send_message(room, "y", "still here").await;
    assert_eq!(
        other.next_of("event").await["event"]["data"]["body"],
        "still here"
    );
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"client_msg_id": "z", "body": "b".repeat(8000)}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    s.finish().await;
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let mut ws = s.ws(&alice).await;
    ws.subscribe(room).await;
    alice.send(room, "1", "one").await;
    ws.next_of("event").await;
    ws.ok(json!({"type": "unsubscribe", "room_id": room})).await;
    alice.send(room, "2", "two").await;
    ws.assert_no_events(Duration::from_millis(500)).await;
    s.finish().await;
}

/// Graceful shutdown closes every socket with 1001 so clients reconnect elsewhere.
#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let mut ws = s.ws(&alice).await;
    let stop = tokio::spawn(s.natter.stop());
    let closed = ws.closed().await;
    assert_eq!(closed.code, Some(1001), "{closed:?}");
    stop.await.expect("stop");
    s.env.cleanup().await;
}

/// SIGTERM to `natter up` while sockets send: every socket is closed with 1001, the process
/// exits 0 once every role has finished, and every message that was acked is stored, once.
#[tokio::test]
async fn sigterm_to_natter_up_drains_every_role() {
    let env = TestEnv::new().await;
    let natter = NatterProcess::spawn(&env, "up").await;
    let alice = Api::register(&natter.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    const SOCKETS: usize = 3;
    const SENDS: usize = 600;
    let mut sockets = Vec::new();
    for _ in 0..SOCKETS {
        let mut ws = Ws::connect(&natter.ws_url(), alice.token())
            .await
            .expect("ws");
        ws.subscribe(room).await;
        sockets.push(ws);
    }
    // Each socket sends without waiting, then reads until it is closed.
    let mut readers = Vec::new();
    for (k, mut ws) in sockets.into_iter().enumerate() {
        readers.push(tokio::spawn(async move {
            for i in 0..SENDS {
                let frame = json!({"type": "send", "id": 1000 + i, "room_id": room,
                                   "client_msg_id": format!("s{k}-{i}"), "body": format!("s{k}-{i}")});
                ws.send_json(frame).await;
            }
            ws.frames_until_closed().await
        }));
    }
    // Stopped mid-stream: some sends acked, some in flight, some not read yet.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let status = natter.stop().await;
    assert!(
        status.is_some_and(|s| s.success()),
        "natter up ended with {status:?}"
    );
    let mut acked = Vec::new();
    for (k, reader) in readers.into_iter().enumerate() {
        let (frames, closed) = reader.await.expect("reader");
        assert_eq!(closed.code, Some(1001), "socket {k}: {closed:?}");
        for frame in frames {
            if frame["type"] == "reply"
                && frame["ok"] == true
                && let Some(i) = frame["id"].as_u64().and_then(|id| id.checked_sub(1000))
            {
                acked.push(format!("s{k}-{i}"));
            }
        }
    }
    // Started again, natter has every acked message in history, once.
    let again = Natter::start(&env).await;
    let pool = env.pool().await;
    crate::replay::caught_up(&env, &pool).await;
    let stored = crate::faults::stored_counts(&pool, room).await;
    for body in &acked {
        let times = stored.get(body).copied().unwrap_or(0);
        assert_eq!(times, 1, "acked {body} is in history {times} times");
    }
    assert!(stored.values().all(|&n| n == 1), "nothing doubled");
    // And the drain answered every send it read: nothing was stored without its sender
    // hearing so.
    let unanswered: Vec<&String> = stored.keys().filter(|b| !acked.contains(b)).collect();
    assert!(
        unanswered.is_empty(),
        "stored but never acked: {unanswered:?}"
    );
    pool.close().await;
    println!(
        "sigterm under load: {} of {} sends acked before the drain, all stored once, none stored unacked",
        acked.len(),
        SOCKETS * SENDS
    );
    again.stop().await;
    env.cleanup().await;
}

/// Killing the fan-out while messages flow and starting it again: live sockets still get
/// every message, once, in order.
#[tokio::test]
async fn fanout_kill_and_restart_delivers_everything_once() {
    let env = TestEnv::new().await;
    let (gateway, projector, mut fanout, alice, room, mut ws) = crate::split_roles(&env).await;
    const N: usize = 300;
    let sending = crate::send_in_background(&alice, room, N);
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(80 + 50 * round)).await;
        fanout.kill().await;
        fanout = Natter::start_role(&env, Role::Fanout, natter_testkit::gateway_config()).await;
    }
    let sent = sending.await.expect("sender");
    let got: Vec<u64> = ws.event_seqs(N).await;
    assert_eq!(got, sent);
    ws.assert_no_events(Duration::from_millis(500)).await;
    for n in [gateway, projector, fanout] {
        n.stop().await;
    }
    env.cleanup().await;
}

/// A delivery the gateway never got (core NATS dropped it, or in a cluster the fan-out's
/// server had not learnt of the subscription yet) is noticed through the next delivery's
/// previous seq and read from the log: the socket still gets every event, in order, once.
#[tokio::test]
async fn a_lost_delivery_is_filled_from_the_log() {
    let env = TestEnv::new().await;
    let (gateway, projector, fanout, alice, room, mut ws) = crate::split_roles(&env).await;
    let first = alice.send(room, "0", "zero").await;
    assert_eq!(ws.next_of("event").await["seq"], first);

    // With the fan-out stopped, A and B are in the log but not delivered; then B alone
    // arrives, saying A came before it.
    fanout.stop().await;
    let a = alice.send(room, "a", "A").await;
    let b = alice.send(room, "b", "B").await;
    let bus = env.bus().await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(natter_bus::SEQ_HEADER, b.to_string().as_str());
    headers.insert(natter_bus::PREV_SEQ_HEADER, a.to_string().as_str());
    let payload = bus.get(b).await.expect("event b");
    bus.notify(bus.subjects().deliver_room(room), Some(headers), payload)
        .await
        .expect("publish");
    let events = ws.events(2).await;
    let seqs: Vec<_> = natter_testkit::seqs(&events);
    assert_eq!(seqs, vec![a, b], "A read from the log, then B");
    assert_eq!(events[0]["event"]["data"]["body"], "A");

    // The fan-out comes back and delivers A and B again: no duplicates reach the socket.
    let fanout = Natter::start_role(&env, Role::Fanout, natter_testkit::gateway_config()).await;
    let c = alice.send(room, "c", "C").await;
    let after: Vec<_> = ws.event_seqs(1).await;
    assert_eq!(after, vec![c]);
    ws.assert_no_events(Duration::from_millis(400)).await;
    for n in [gateway, projector, fanout] {
        n.stop().await;
    }
    env.cleanup().await;
}
