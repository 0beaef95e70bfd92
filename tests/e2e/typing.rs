//! Typing: reaches the other subscribers of the room across gateways (never the typist),
//! throttled, and stopped by the server when the typist goes quiet or disconnects.

use std::time::Duration;

use natter_testkit::{Api, Natter, Role, TestEnv, Ws};
use serde_json::{Value, json};

fn typing_frames(frames: &[Value]) -> Vec<(String, String)> {
    frames
        .iter()
        .filter(|f| f["type"] == "typing")
        .map(|f| {
            (
                f["user_id"].as_str().unwrap_or_default().to_owned(),
                f["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn typing_reaches_others_across_gateways_and_stops() {
    let env = TestEnv::new().await;
    let a = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let b = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let alice = Api::register(&a.base, "alice").await;
    let bob = Api::register(&b.base, "bobby").await;
    let eve = Api::register(&b.base, "eve").await;
    let room = alice.create_room("r", "public").await;
    let secret = alice.create_room("secret", "private").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;

    let mut typist = Ws::connect(&a.ws_url(), alice.token()).await.expect("ws");
    let mut typist_other_device = Ws::connect(&b.ws_url(), alice.token()).await.expect("ws");
    let mut watcher = Ws::connect(&b.ws_url(), bob.token()).await.expect("ws");
    for ws in [&mut typist, &mut typist_other_device, &mut watcher] {
        ws.subscribe(room).await;
    }
    let me = alice.id().to_string();

    // A burst of starts is one start for the others; then an explicit stop.
    for _ in 0..5 {
        typist
            .ok(json!({"type": "typing", "room_id": room, "state": "start"}))
            .await;
    }
    let seen = watcher.next_of("typing").await;
    assert_eq!(
        (
            seen["room_id"].clone(),
            seen["user_id"].clone(),
            seen["state"].clone()
        ),
        (json!(room), json!(me), json!("start"))
    );
    typist
        .ok(json!({"type": "typing", "room_id": room, "state": "stop"}))
        .await;
    let seen = watcher.next_of("typing").await;
    assert_eq!(seen["state"], "stop");
    assert!(
        typing_frames(&watcher.drain(Duration::from_millis(300)).await).is_empty(),
        "one start, one stop"
    );
    // Never to the typist, on any of their devices.
    assert!(typing_frames(&typist.drain(Duration::from_millis(100)).await).is_empty());
    assert!(typing_frames(&typist_other_device.drain(Duration::from_millis(100)).await).is_empty());

    // Gone quiet: the server stops them.
    typist
        .ok(json!({"type": "typing", "room_id": room, "state": "start"}))
        .await;
    assert_eq!(watcher.next_of("typing").await["state"], "start");
    assert_eq!(
        watcher.next_of("typing").await["state"],
        "stop",
        "stopped after going quiet"
    );

    // Disconnected: stopped at once.
    typist
        .ok(json!({"type": "typing", "room_id": room, "state": "start"}))
        .await;
    assert_eq!(watcher.next_of("typing").await["state"], "start");
    typist.close().await;
    assert_eq!(
        watcher.next_of("typing").await["state"],
        "stop",
        "stopped on disconnect"
    );

    // Only members type: a public room's reader is refused, a private room is invisible.
    let mut outsider = Ws::connect(&b.ws_url(), eve.token()).await.expect("ws");
    outsider.subscribe(room).await;
    let reply = outsider
        .request(json!({"type": "typing", "room_id": room, "state": "start"}))
        .await;
    assert_eq!(reply["error"]["code"], "forbidden");
    let reply = outsider
        .request(json!({"type": "typing", "room_id": secret, "state": "start"}))
        .await;
    assert_eq!(reply["error"]["code"], "not_found");
    let reply = outsider
        .request(json!({"type": "typing", "room_id": room, "state": "maybe"}))
        .await;
    assert_eq!(reply["error"]["code"], "invalid");
    for n in [a, b, projector] {
        n.stop().await;
    }
    env.cleanup().await;
}
