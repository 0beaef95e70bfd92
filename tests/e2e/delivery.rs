use std::time::Duration;

use serde_json::json;

use natter_testkit::Ws;

use crate::Setup;

#[tokio::test]
async fn a_burst_reaches_every_socket_in_order_once() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let room = alice.create_room("burst", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;

    // Three sockets: two of bob's devices and one of alice's.
    let mut sockets = vec![s.ws(&bob).await, s.ws(&bob).await, s.ws(&alice).await];
    for ws in &mut sockets {
        ws.subscribe(room).await;
    }
    // One NATS subscription for the room on this gateway, however many sockets.
    let (_, metrics) = alice.get("/metrics").await;
    let rooms_line = metrics
        .as_str()
        .expect("text")
        .lines()
        .find(|l| l.starts_with("natter_gateway_rooms "))
        .map(str::to_owned);
    assert_eq!(rooms_line.as_deref(), Some("natter_gateway_rooms 1"));
    const N: usize = 200;
    let mut sender = s.ws(&alice).await;
    let mut sent = Vec::new();
    for i in 0..N {
        let reply = sender
            .send_message(room, &format!("m{i}"), &format!("message {i}"))
            .await;
        assert_eq!(reply["duplicate"], false);
        sent.push(reply["seq"].as_u64().expect("seq"));
    }
    for ws in &mut sockets {
        let events = ws.events(N).await;
        let seqs: Vec<u64> = natter_testkit::seqs(&events);
        assert_eq!(seqs, sent, "every message, in send order, once");
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["room_id"], json!(room));
            assert_eq!(e["event"]["type"], "message.posted");
            assert_eq!(e["event"]["data"]["body"], format!("message {i}"));
            assert_eq!(e["event"]["data"]["seq"], json!(sent[i]));
            assert_eq!(e["event"]["data"]["sender_id"], json!(alice.id()));
        }
        ws.assert_no_events(Duration::from_millis(300)).await;
    }
    s.finish().await;
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_session_stays_open() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let mut ws = s.ws(&alice).await;

    ws.send_json(json!("not an object")).await;
    assert_eq!(ws.next_of("error").await["error"]["code"], "invalid");
    ws.send_raw(tokio_tungstenite::tungstenite::Message::text("{nope"))
        .await;
    assert_eq!(ws.next_of("error").await["error"]["code"], "invalid");
    let reply = ws.request(json!({"type": "teleport"})).await;
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["error"]["code"], "invalid");
    let reply = ws.request(json!({"type": "send", "room_id": room})).await;
    assert_eq!(reply["error"]["code"], "invalid", "missing fields: {reply}");
    let reply = ws
        .request(json!({"type": "subscribe", "room_id": "nope"}))
        .await;
    assert_eq!(reply["error"]["code"], "invalid");
    let reply = ws
        .request(json!({"type": "send", "room_id": room, "client_msg_id": "x", "body": "   "}))
        .await;
    assert_eq!(reply["error"]["code"], "invalid");
    assert_eq!(reply["error"]["field"], "body");
    let reply = ws
        .request(json!({"type": "send", "room_id": room, "client_msg_id": "x", "body": "x".repeat(5000)}))
        .await;
    assert_eq!(reply["error"]["code"], "payload_too_large");
    // Still open and working.
    let pong = ws.request(json!({"type": "ping"})).await;
    assert_eq!(pong["ok"], true);
    ws.send_json(json!({"type": "ping"})).await;
    ws.next_of("pong").await;
    s.finish().await;
}

#[tokio::test]
async fn a_kicked_member_stops_receiving_the_room() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let room = alice.create_room("private", "private").await;
    alice
        .post(
            &format!("/v1/rooms/{room}/members"),
            json!({"user_id": bob.id()}),
        )
        .await;
    let mut bob_ws = s.ws(&bob).await;
    bob_ws.subscribe(room).await;
    alice.send(room, "1", "before").await;
    assert_eq!(
        bob_ws.next_of("event").await["event"]["data"]["body"],
        "before"
    );

    alice
        .delete(&format!("/v1/rooms/{room}/members/{}", bob.id()))
        .await;
    let kicked = bob_ws.next_of("event").await;
    assert_eq!(kicked["event"]["type"], "member.kicked");
    let ended = bob_ws.next_of("unsubscribed").await;
    assert_eq!(ended["room_id"], json!(room));
    assert_eq!(ended["reason"], "kicked");
    alice.send(room, "2", "after").await;
    bob_ws.assert_no_events(Duration::from_millis(500)).await;
    let reply = bob_ws
        .request(json!({"type": "subscribe", "room_id": room}))
        .await;
    assert_eq!(reply["error"]["code"], "not_found");
    s.finish().await;
}

#[tokio::test]
async fn a_slow_socket_is_closed_with_4008_and_others_get_everything() {
    let config = natter_gateway::GatewayConfig {
        outbound_queue: 16,
        ..natter_testkit::gateway_config()
    };
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let room = alice.create_room("firehose", "public").await;
    // The slow client's small receive window makes the server's side fill up early.
    let mut slow = Ws::connect_with_recv_buffer(&s.natter.ws_url(), alice.token(), 4096)
        .await
        .expect("ws");
    let mut fast = s.ws(&alice).await;
    slow.subscribe(room).await;
    fast.subscribe(room).await;

    // Big messages fill the slow socket's TCP buffers, then its queue.
    const N: usize = 1500;
    let body = "y".repeat(3900);
    // Sends pipelined on a socket of their own, so that they are done in a moment even on a
    // busy machine: the slow socket is read only after them, and the server gives up on
    // delivering its close frame to a client that reads nothing for 10 s.
    let mut sender = s.ws(&alice).await;
    let send = tokio::spawn(async move {
        // Windows of 8 in flight: the sender reads its replies well within its own queue.
        let mut seqs = vec![0u64; N];
        for window in (0..N).collect::<Vec<_>>().chunks(8) {
            for &i in window {
                sender
                    .send_json(json!({"type": "send", "id": i, "room_id": room,
                                      "client_msg_id": format!("m{i}"), "body": body}))
                    .await;
            }
            for _ in window {
                let reply = sender.next_of("reply").await;
                assert_eq!(reply["ok"], true, "{reply}");
                let i = reply["id"].as_u64().expect("id") as usize;
                seqs[i] = reply["data"]["seq"].as_u64().expect("seq");
            }
        }
        seqs
    });
    // The server gives up on delivering the close frame after 10 s of a client reading
    // nothing: read the slow socket from the moment the gateway counts it as too slow.
    let metrics_url = format!("{}/metrics", s.natter.base);
    let slow_closed = tokio::spawn(async move {
        natter_testkit::wait_until(
            "the slow socket to overflow",
            Duration::from_secs(60),
            || {
                let url = metrics_url.clone();
                async move {
                    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
                    text.lines()
                        .any(|l| {
                            l.starts_with("natter_gateway_slow_consumers_total")
                                && !l.ends_with(" 0")
                        })
                        .then_some(())
                }
            },
        )
        .await;
        slow.closed().await
    });
    let events = fast.events(N).await;
    let seqs = send.await.expect("sender");
    let got: Vec<u64> = natter_testkit::seqs(&events);
    assert_eq!(got, seqs);
    let closed = slow_closed.await.expect("slow reader");
    assert_eq!(closed.code, Some(4008), "{closed:?}");
    s.finish().await;
}
