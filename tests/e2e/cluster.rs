use serde_json::json;

use natter_testkit::{Api, NatterProcess, TestEnv, Ws};

/// Two gateways in two processes (one `natter up`, one `natter gateway`): sockets on either get
/// each other's messages, in the same order.
#[tokio::test]
async fn two_gateways_in_two_processes_deliver_to_each_others_sockets() {
    let env = TestEnv::new().await;
    let one = NatterProcess::spawn(&env, "up").await;
    let two = NatterProcess::spawn(&env, "gateway").await;

    let alice = Api::register(&one.base, "alice").await;
    let bob = Api::register(&two.base, "bob").await;
    let room = alice.create_room("r", "public").await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert!(status.is_success());

    let mut a = Ws::connect(&one.ws_url(), alice.token())
        .await
        .expect("gw1");
    let mut b = Ws::connect(&two.ws_url(), bob.token()).await.expect("gw2");
    a.subscribe(room).await;
    b.subscribe(room).await;
    for i in 0..20 {
        a.send_message(room, &format!("a{i}"), &format!("from gw1 {i}"))
            .await;
        b.send_message(room, &format!("b{i}"), &format!("from gw2 {i}"))
            .await;
    }
    let on_a: Vec<u64> = a.event_seqs(40).await;
    let on_b: Vec<u64> = b.event_seqs(40).await;
    assert_eq!(
        on_a, on_b,
        "both gateways deliver the same events in the same order"
    );
    assert!(on_a.windows(2).all(|w| w[0] < w[1]));

    // A DM opened on one gateway reaches the other user's socket as a notice.
    let (_, dm) = alice.post("/v1/dms", json!({"user_ids": [bob.id()]})).await;
    let notice = b.next_of("notice").await;
    assert_eq!(notice["event"]["type"], "room.created");
    assert_eq!(notice["room_id"], dm["id"]);

    a.close().await;
    b.close().await;
    two.stop().await;
    one.stop().await;
    env.cleanup().await;
}
