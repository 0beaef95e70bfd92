//! Delivery receipts over the real surface: sockets say how far they have received a room
//! (cumulatively, as often as they like); the log gets one coalesced `delivered.updated` per
//! room and interval; members see it live; receipts give each member's read and delivered
//! positions, and "delivered to n, read by m" for an event.

use std::time::Duration;

use serde_json::json;

use crate::Setup;

#[tokio::test]
async fn delivery_receipts_are_coalesced_shown_live_and_counted() {
    let mut config = natter_testkit::gateway_config();
    config.delivered_flush_ms = 300;
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    let room = alice.create_room("r", "public").await;
    for user in [&bob, &carol] {
        let (status, _) = user
            .post(&format!("/v1/rooms/{room}/join"), json!({}))
            .await;
        assert!(status.is_success());
    }
    let mut alice_socket = s.ws(&alice).await;
    alice_socket.subscribe(room).await;
    let mut bob_socket = s.ws(&bob).await;
    bob_socket.subscribe(room).await;
    let mut last = 0;
    for i in 0..3 {
        last = alice.send(room, &format!("m{i}"), "hello").await;
    }
    let seqs = bob_socket.event_seqs(3).await;
    assert_eq!(seqs.last(), Some(&last));

    // Bob's device acknowledges as it goes: six frames, at most two events in the log (one
    // per flush interval, and the frames may straddle two).
    for seq in seqs.iter().chain(&seqs) {
        let reply = bob_socket
            .ok(json!({"type": "delivered", "room_id": room, "seq": seq}))
            .await;
        assert_eq!(reply["delivered_seq"], *seq);
    }
    loop {
        let event = alice_socket.next_of("event").await;
        if event["event"]["type"] == "delivered.updated"
            && event["event"]["data"]["positions"] == json!([{"user_id": bob.id(), "seq": last}])
        {
            break;
        }
    }
    let bus = s.env.bus().await;
    let coalesced = natter_testkit::log_events(&bus)
        .await
        .iter()
        .filter(|(_, e)| e.type_name() == "delivered.updated")
        .count();
    assert!(
        (1..=2).contains(&coalesced),
        "{coalesced} events for six frames"
    );

    // Each member's positions; for the last message, delivered to one, read by none.
    let counts = natter_testkit::wait_until("the receipt", Duration::from_secs(5), || async {
        let (_, c) = alice
            .get(&format!("/v1/rooms/{room}/receipts?seq={last}"))
            .await;
        (c["delivered_count"] == 1).then_some(c)
    })
    .await;
    assert_eq!(counts["read_count"], 0, "{counts}");
    let (_, all) = alice.get(&format!("/v1/rooms/{room}/receipts")).await;
    let bob_row = all["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .find(|r| r["user_id"] == json!(bob.id()))
        .cloned()
        .expect("bob");
    assert_eq!(bob_row["delivered_seq"], last, "{all}");
    let (status, _) = carol
        .post(&format!("/v1/rooms/{room}/read"), json!({"seq": last}))
        .await;
    assert!(status.is_success());
    let (_, counts) = alice
        .get(&format!("/v1/rooms/{room}/receipts?seq={last}"))
        .await;
    assert_eq!(counts["read_count"], 1, "{counts}");
    assert_eq!(
        counts["delivered_count"], 2,
        "what was read was delivered: {counts}"
    );
    assert_eq!(
        counts["receipts"].as_array().map(Vec::len),
        Some(2),
        "the v1 form still lists who read up to seq (alice and carol): {counts}"
    );

    // A socket not subscribed to the room cannot speak for it.
    let mut carol_socket = s.ws(&carol).await;
    let reply = carol_socket
        .request(json!({"type": "delivered", "room_id": room, "seq": last}))
        .await;
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    s.env.cleanup().await;
}
