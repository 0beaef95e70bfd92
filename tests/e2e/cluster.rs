use serde_json::json;

use natter_gateway::GatewayConfig;
use natter_testkit::{Api, Natter, Role, TestEnv, Ws};

/// Two gateways, a fan-out and a projector, each its own role: sockets on either gateway get
/// each other's messages.
#[tokio::test]
async fn two_gateways_deliver_to_each_others_sockets() {
    let env = TestEnv::new().await;
    let gw1 = Natter::start_role(&env, Role::Gateway, GatewayConfig::default()).await;
    let gw2 = Natter::start_role(&env, Role::Gateway, GatewayConfig::default()).await;
    let fanout = Natter::start_role(&env, Role::Fanout, GatewayConfig::default()).await;
    let projector = Natter::start_role(&env, Role::Projector, GatewayConfig::default()).await;

    let alice = Api::register(&gw1.base, "alice").await;
    let bob = Api::register(&gw2.base, "bob").await.at(&gw2.base);
    let room = alice.create_room("r", "public").await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert!(status.is_success());

    let mut a = Ws::connect(&gw1.ws_url(), alice.token())
        .await
        .expect("gw1");
    let mut b = Ws::connect(&gw2.ws_url(), bob.token()).await.expect("gw2");
    a.subscribe(room).await;
    b.subscribe(room).await;
    for i in 0..20 {
        a.send_message(room, &format!("a{i}"), &format!("from gw1 {i}"))
            .await;
        b.send_message(room, &format!("b{i}"), &format!("from gw2 {i}"))
            .await;
    }
    let on_a: Vec<u64> = a
        .events(40)
        .await
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    let on_b: Vec<u64> = b
        .events(40)
        .await
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
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

    for n in [gw1, gw2, fanout, projector] {
        n.stop().await;
    }
    env.cleanup().await;
}
