//! Presence across gateways and devices, explicit subscriptions, invisibility, and a gateway
//! that dies without cleaning up.

use natter_testkit::{Api, Natter, NatterProcess, Role, TestEnv, Ws};
use serde_json::{Value, json};

async fn next_presence(ws: &mut Ws) -> Value {
    ws.next_of("presence").await
}

/// Presence is shown to those who share a room (here a direct conversation).
async fn share_a_room(a: &Api, b: &Api) {
    let (status, body) = a.post("/v1/dms", json!({"user_ids": [b.id()]})).await;
    assert!(status.is_success(), "{body}");
}

#[tokio::test]
async fn presence_follows_every_device_on_every_gateway() {
    let env = TestEnv::new().await;
    let a = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let b = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let alice = Api::register(&a.base, "alice").await;
    let bob = Api::register(&b.base, "bobby").await;
    let carol = Api::register(&b.base, "carol").await;
    share_a_room(&alice, &bob).await;
    let me = json!(alice.id());
    // A stranger (no room in common) sees no presence and follows none.
    let mut stranger = Ws::connect(&b.ws_url(), carol.token()).await.expect("ws");
    stranger
        .ok(json!({"type": "presence_subscribe", "user_ids": [alice.id()]}))
        .await;

    let mut watcher = Ws::connect(&b.ws_url(), bob.token()).await.expect("ws");
    let reply = watcher
        .ok(json!({"type": "presence_subscribe", "user_ids": [alice.id()]}))
        .await;
    assert_eq!(
        reply["users"][0]["status"], "offline",
        "never connected: {reply}"
    );

    let phone = Ws::connect(&a.ws_url(), alice.token()).await.expect("ws");
    let seen = next_presence(&mut watcher).await;
    assert_eq!(
        (seen["user_id"].clone(), seen["status"].clone()),
        (me.clone(), json!("online"))
    );
    let mut laptop = Ws::connect(&b.ws_url(), alice.token()).await.expect("ws");

    let reply = laptop
        .ok(json!({"type": "presence", "status": "away", "text": "lunch"}))
        .await;
    assert_eq!(reply["status"], "away");
    let seen = next_presence(&mut watcher).await;
    assert_eq!(
        (seen["status"].clone(), seen["text"].clone()),
        (json!("away"), json!("lunch"))
    );

    // One device leaves: still there. The last one leaves: offline, with last_seen.
    phone.close().await;
    let (_, now) = bob
        .get(&format!("/v1/presence?user_ids={}", alice.id()))
        .await;
    assert_eq!(now["users"][0]["status"], "away", "{now}");
    laptop.close().await;
    let seen = next_presence(&mut watcher).await;
    assert_eq!(seen["status"], "offline", "{seen}");
    assert!(seen["last_seen"].is_string(), "{seen}");
    assert!(seen["text"].is_null());

    // Invisible looks offline to others.
    let mut hidden = Ws::connect(&a.ws_url(), alice.token()).await.expect("ws");
    assert_eq!(
        next_presence(&mut watcher).await["status"],
        "away",
        "back with the chosen status"
    );
    hidden
        .ok(json!({"type": "presence", "status": "invisible"}))
        .await;
    assert_eq!(next_presence(&mut watcher).await["status"], "offline");
    let (_, now) = bob
        .get(&format!(
            "/v1/presence?user_ids={},{}",
            alice.id(),
            bob.id()
        ))
        .await;
    assert_eq!(now["users"][0]["status"], "offline");
    assert_eq!(now["users"][1]["status"], "online");
    let frames = stranger.settle().await;
    assert!(
        frames.iter().all(|f| f["type"] != "presence"),
        "a stranger followed presence: {frames:?}"
    );
    let (_, seen) = carol
        .get(&format!("/v1/presence?user_ids={}", alice.id()))
        .await;
    assert_eq!(seen["users"][0]["status"], "offline", "{seen}");
    assert!(seen["users"][0]["last_seen"].is_null(), "{seen}");

    // Bad input.
    let reply = hidden
        .request(json!({"type": "presence", "status": "offline"}))
        .await;
    assert_eq!(reply["error"]["code"], "invalid");
    let many: Vec<Value> = (0..101).map(|_| json!(uuid::Uuid::now_v7())).collect();
    let reply = hidden
        .request(json!({"type": "presence_subscribe", "user_ids": many}))
        .await;
    assert_eq!(reply["error"]["code"], "invalid");
    let (status, _) = bob.get("/v1/presence?user_ids=nope").await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    for n in [a, b, projector] {
        n.stop().await;
    }
    env.cleanup().await;
}

/// A gateway killed with SIGKILL cannot say its users left: their sockets expire, and another
/// gateway notices and announces them offline.
#[tokio::test]
async fn users_of_a_dead_gateway_go_offline_within_the_ttl() {
    let env = TestEnv::new().await;
    let survivor = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let doomed =
        NatterProcess::spawn_with(&env, "gateway", &[("NATTER_PRESENCE_TTL_SECS", "2")]).await;
    let alice = Api::register(&survivor.base, "alice").await;
    let bob = Api::register(&survivor.base, "bobby").await;
    share_a_room(&alice, &bob).await;
    let mut watcher = Ws::connect(&survivor.ws_url(), bob.token())
        .await
        .expect("ws");
    watcher
        .ok(json!({"type": "presence_subscribe", "user_ids": [alice.id()]}))
        .await;
    let ws_url = format!("{}/v1/ws", doomed.base.replacen("http", "ws", 1));
    let _alice_ws = Ws::connect(&ws_url, alice.token()).await.expect("ws");
    assert_eq!(next_presence(&mut watcher).await["status"], "online");
    doomed.kill().await;
    let seen = next_presence(&mut watcher).await;
    assert_eq!(seen["status"], "offline", "{seen}");
    survivor.stop().await;
    projector.stop().await;
    env.cleanup().await;
}

/// A gateway whose sockets expire 1 s after its last heartbeat, and a projector.
async fn short_ttl(env: &TestEnv) -> (Natter, Natter) {
    let config = natter_gateway::GatewayConfig {
        presence: natter_realtime::presence::PresenceConfig {
            presence_ttl_secs: 1,
        },
        ..natter_testkit::gateway_config()
    };
    let gateway = Natter::start_role(env, Role::Gateway, config).await;
    let projector =
        Natter::start_role(env, Role::Projector, natter_testkit::gateway_config()).await;
    (gateway, projector)
}

/// A connected user stays online past the TTL: their gateway's heartbeats keep the socket live.
#[tokio::test]
async fn heartbeats_keep_connected_users_online() {
    let env = TestEnv::new().await;
    let (gateway, projector) = short_ttl(&env).await;
    let alice = Api::register(&gateway.base, "alice").await;
    let _ws = Ws::connect(&gateway.ws_url(), alice.token())
        .await
        .expect("ws");
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let (_, now) = alice
        .get(&format!("/v1/presence?user_ids={}", alice.id()))
        .await;
    assert_eq!(now["users"][0]["status"], "online", "{now}");
    for n in [gateway, projector] {
        n.stop().await;
    }
    env.cleanup().await;
}

/// A clean disconnect is the last word: the sweep that follows the sockets' expiry neither
/// moves `last_seen` nor tells watchers `offline` a second time.
#[tokio::test]
async fn a_clean_disconnect_keeps_its_last_seen() {
    let env = TestEnv::new().await;
    let (gateway, projector) = short_ttl(&env).await;
    let alice = Api::register(&gateway.base, "alice").await;
    let bob = Api::register(&gateway.base, "bobby").await;
    share_a_room(&alice, &bob).await;
    let mut watcher = Ws::connect(&gateway.ws_url(), bob.token())
        .await
        .expect("ws");
    watcher
        .ok(json!({"type": "presence_subscribe", "user_ids": [alice.id()]}))
        .await;
    let ws = Ws::connect(&gateway.ws_url(), alice.token())
        .await
        .expect("ws");
    assert_eq!(next_presence(&mut watcher).await["status"], "online");
    ws.close().await;
    let offline = next_presence(&mut watcher).await;
    assert_eq!(offline["status"], "offline");
    // Past the sockets' expiry (1 s) and the next sweeps (every 2 s).
    let later = watcher.drain(std::time::Duration::from_secs(5)).await;
    assert!(
        later.iter().all(|f| f["type"] != "presence"),
        "a second presence change: {later:?}"
    );
    let (_, now) = bob
        .get(&format!("/v1/presence?user_ids={}", alice.id()))
        .await;
    assert_eq!(now["users"][0]["last_seen"], offline["last_seen"], "{now}");
    for n in [gateway, projector] {
        n.stop().await;
    }
    env.cleanup().await;
}

/// A follower who no longer shares a room with the followed user hears nothing more of their
/// presence, and hears it again once they share one and ask again.
#[tokio::test]
async fn presence_stops_when_the_shared_room_is_gone() {
    let s = crate::Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let (_, room) = alice
        .post(
            "/v1/rooms",
            json!({"name": "r", "visibility": "private", "member_ids": [bob.id()]}),
        )
        .await;
    let room = room["id"].as_str().expect("id").to_owned();
    let mut watcher = s.ws(&bob).await;
    watcher
        .ok(json!({"type": "presence_subscribe", "user_ids": [alice.id()]}))
        .await;
    let mut typist = s.ws(&alice).await;
    assert_eq!(next_presence(&mut watcher).await["status"], "online");
    let (status, _) = alice
        .delete(&format!("/v1/rooms/{room}/members/{}", bob.id()))
        .await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    typist
        .ok(json!({"type": "presence", "status": "away", "text": "after the kick"}))
        .await;
    // Alice's own other socket hears it: by then every follower on the gateway has been
    // handed the frame, or not.
    let mut own = s.ws(&alice).await;
    own.ok(json!({"type": "presence_subscribe", "user_ids": [alice.id()]}))
        .await;
    typist
        .ok(json!({"type": "presence", "status": "busy"}))
        .await;
    while next_presence(&mut own).await["status"] != "busy" {}
    let frames = watcher.settle().await;
    assert!(
        frames.iter().all(|f| f["type"] != "presence"),
        "presence after the shared room was gone: {frames:?}"
    );
    // Sharing a room again, and asking again, brings it back.
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{room}/members"),
            json!({"user_id": bob.id()}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let reply = watcher
        .ok(json!({"type": "presence_subscribe", "user_ids": [alice.id()]}))
        .await;
    assert_eq!(reply["users"][0]["status"], "busy", "{reply}");
    typist
        .ok(json!({"type": "presence", "status": "online"}))
        .await;
    assert_eq!(next_presence(&mut watcher).await["status"], "online");
    s.finish().await;
}

#[tokio::test]
async fn a_room_says_who_of_its_members_is_online() {
    let s = crate::Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let carol = s.user("carol").await;
    let eve = s.user("eve").await;
    let room = alice.create_room("team", "public").await;
    for member in [&bob, &carol] {
        member
            .post(&format!("/v1/rooms/{room}/join"), json!({}))
            .await;
    }
    let mut bob_ws = s.ws(&bob).await;
    bob_ws
        .ok(json!({"type": "presence", "status": "busy", "text": "focus"}))
        .await;
    let path = format!("/v1/rooms/{room}/presence");
    let (status, here) = alice.get(&path).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{here}");
    assert_eq!(here["online"], 1, "{here}");
    assert_eq!(here["users"][0]["user_id"], bob.id().to_string());
    assert_eq!(here["users"][0]["status"], "busy");
    assert_eq!(here["users"][0]["text"], "focus");
    // Carol connects and Bob goes invisible: still one online, and the list can be left out.
    let _carol_ws = s.ws(&carol).await;
    bob_ws
        .ok(json!({"type": "presence", "status": "invisible"}))
        .await;
    let (_, here) = alice.get(&format!("{path}?limit=0")).await;
    assert_eq!(here["online"], 1, "{here}");
    assert_eq!(here["users"], json!([]));
    // Not a member: not told.
    let (status, _) = eve.get(&path).await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
    s.finish().await;
}
