//! Sends checked from a gateway's memory (`NATTER_SEND_CHECK_FROM_MEMORY`, the default): the
//! room's rules kept from its delivery feed, and each sender's posted ids.

use std::time::Duration;

use natter::StreamArgs;
use natter_testkit::{Api, Natter, Role, TestEnv, Ws};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// Sends checked in PostgreSQL, one query each.
fn database_config() -> natter_gateway::GatewayConfig {
    natter_gateway::GatewayConfig {
        send_check_from_memory: false,
        ..natter_testkit::gateway_config()
    }
}

fn memory_config() -> natter_gateway::GatewayConfig {
    natter_gateway::GatewayConfig {
        send_check_from_memory: true,
        ..natter_testkit::gateway_config()
    }
}

/// `natter_send_checks_total{from}` on the gateway at `api`'s base.
async fn checks(api: &Api, from: &str) -> u64 {
    let (_, text) = api.get("/metrics").await;
    let key = format!("natter_send_checks_total{{from=\"{from}\"}} ");
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Reads room events until one of type `ty` (its room feed has applied it on this gateway).
async fn until_event(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let frame = ws.next_of("event").await;
        if frame["event"]["type"] == ty {
            return frame;
        }
    }
}

fn send(room: Uuid, id: &str) -> Value {
    json!({"type": "send", "room_id": room, "client_msg_id": id, "body": id})
}

async fn rest_send(api: &Api, room: Uuid, id: &str) -> (StatusCode, Value) {
    api.post(
        &format!("/v1/rooms/{room}/messages"),
        json!({"body": id, "client_msg_id": id}),
    )
    .await
}

/// Sends from `ws` until a send is checked from memory (the room's rules loaded, the sender's
/// ids read).
async fn warm_up(ws: &mut Ws, api: &Api, room: Uuid, prefix: &str) {
    let started = std::time::Instant::now();
    for i in 0.. {
        let reply = ws.request(send(room, &format!("{prefix}-{i}"))).await;
        assert_eq!(reply["ok"], true, "{reply}");
        if checks(api, "memory").await > 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no send was checked from memory"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A mute, a kick and a ban made on one gateway stop the member's sends on another as soon as
/// that gateway's feed has them, over WebSocket and REST alike, and the refusals come from
/// memory.
#[tokio::test]
async fn removals_made_elsewhere_stop_sends_checked_from_memory() {
    let env = TestEnv::new().await;
    let _projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let _fanout = Natter::start_role(&env, Role::Fanout, natter_testkit::gateway_config()).await;
    let a = Natter::start_role(&env, Role::Gateway, memory_config()).await;
    let b = Natter::start_role(&env, Role::Gateway, memory_config()).await;
    let alice = Api::register(&a.base, "alice").await;
    let bob = Api::register(&a.base, "bob").await;
    let room = alice.create_room("r", "public").await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // Alice's socket keeps the room's feed on gateway A whatever happens to Bob's.
    let mut alice_ws = Ws::connect(&a.ws_url(), alice.token()).await.expect("ws");
    alice_ws.subscribe(room).await;
    let mut bob_ws = Ws::connect(&a.ws_url(), bob.token()).await.expect("ws");
    bob_ws.subscribe(room).await;
    warm_up(&mut bob_ws, &bob, room, "warm").await;
    let alice_b = alice.at(&b.base);

    // Muted on B: refused on A over both surfaces, from memory; unmuted, allowed again.
    let (status, reply) = alice_b
        .put(
            &format!("/v1/rooms/{room}/members/{}/mute", bob.id()),
            json!({"minutes": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    until_event(&mut alice_ws, "member.muted").await;
    let before = checks(&bob, "memory").await;
    let reply = bob_ws.request(send(room, "muted-ws")).await;
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    let (status, reply) = rest_send(&bob, room, "muted-rest").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("muted")
    );
    assert_eq!(checks(&bob, "memory").await, before + 2);
    let (status, _) = alice_b
        .delete(&format!("/v1/rooms/{room}/members/{}/mute", bob.id()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    until_event(&mut alice_ws, "member.unmuted").await;
    let (status, reply) = rest_send(&bob, room, "unmuted").await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");

    // Kicked on B: not a member on A.
    let (status, _) = alice_b
        .delete(&format!("/v1/rooms/{room}/members/{}", bob.id()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    until_event(&mut alice_ws, "member.kicked").await;
    let before = checks(&bob, "memory").await;
    let (status, reply) = rest_send(&bob, room, "kicked").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert_eq!(checks(&bob, "memory").await, before + 1);

    // Back in, then banned on B: the room is not there for him on A.
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    until_event(&mut alice_ws, "member.joined").await;
    let (status, reply) = rest_send(&bob, room, "rejoined").await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let (status, _) = alice_b
        .put(&format!("/v1/rooms/{room}/bans/{}", bob.id()), json!({}))
        .await;
    assert!(status.is_success(), "{status}");
    until_event(&mut alice_ws, "member.banned").await;
    let before = checks(&bob, "memory").await;
    let (status, reply) = rest_send(&bob, room, "banned").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    assert_eq!(checks(&bob, "memory").await, before + 1);

    // Nothing refused was stored.
    let bodies = alice.history_bodies(room, 0).await;
    for refused in ["muted-ws", "muted-rest", "kicked", "banned"] {
        assert!(
            !bodies.iter().any(|b| b == refused),
            "{refused} was stored: {bodies:?}"
        );
    }
    for kept in ["unmuted", "rejoined"] {
        assert!(bodies.iter().any(|b| b == kept), "{kept}: {bodies:?}");
    }
    env.cleanup().await;
}

/// A retry after the log's dedupe window is answered with the original, and a reused id in
/// another room is refused, while new sends are checked from memory.
#[tokio::test]
async fn a_retry_after_the_dedupe_window_is_answered_with_the_original() {
    let env = TestEnv::new().await;
    // A two-second dedupe window, set before any role creates the stream.
    let short = StreamArgs {
        dedupe_window_secs: 2,
        ..StreamArgs::default()
    };
    natter::open_log(&env.conn, &short, "natter-test")
        .await
        .expect("stream");
    let natter = Natter::start_role(&env, Role::All, memory_config()).await;
    let bob = Api::register(&natter.base, "bob").await;
    let room = bob.create_room("r", "private").await;
    let other = bob.create_room("o", "private").await;
    let mut ws = Ws::connect(&natter.ws_url(), bob.token())
        .await
        .expect("ws");
    ws.subscribe(room).await;
    let first = ws.send_message(room, "first", "hello").await;
    warm_up(&mut ws, &bob, room, "warm").await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let again = ws.send_message(room, "first", "hello").await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["seq"], first["seq"], "{again} vs {first}");
    let (status, reply) = rest_send(&bob, room, "first").await;
    assert_eq!(reply["seq"], first["seq"], "{status} {reply}");
    let reply = ws.request(send(other, "first")).await;
    assert_eq!(reply["error"]["code"], "conflict", "{reply}");
    let fresh = ws.send_message(room, "fresh", "new").await;
    assert_eq!(fresh["duplicate"], false, "{fresh}");
    env.cleanup().await;
}

/// The post's `checked_at` from the event in the log.
async fn checked_at(env: &TestEnv, seq: u64) -> u64 {
    let bus = env.bus().await;
    let event =
        natter_schemas::Event::from_bytes(&bus.get(seq).await.expect("event")).expect("decodes");
    match event.body {
        natter_schemas::event::EventBody::MessagePosted(p) => p.checked_at.expect("checked_at"),
        other => panic!("not a post: {other:?}"),
    }
}

/// Every post records the seq of the log its access check saw, checked in PostgreSQL or from
/// memory: at or past the sender's joining (the check saw them a member), before the post.
#[tokio::test]
async fn posts_record_the_seq_their_check_saw() {
    let env = TestEnv::new().await;
    let db = Natter::start_role(&env, Role::All, database_config()).await;
    let memory = Natter::start_role(&env, Role::Gateway, memory_config()).await;
    let alice = Api::register(&db.base, "alice").await;
    let bob = Api::register(&db.base, "bob").await;
    let room = alice.create_room("r", "public").await;
    let (status, joined) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let bus = env.bus().await;
    let joined_at = bus.last_seq().await.expect("head");

    let seq = bob.send(room, "from-db", "checked in PostgreSQL").await;
    let at = checked_at(&env, seq).await;
    assert!(
        (joined_at..seq).contains(&at),
        "{joined_at} <= {at} < {seq}"
    );

    let bob_m = bob.at(&memory.base);
    let mut ws = Ws::connect(&memory.ws_url(), bob.token())
        .await
        .expect("ws");
    ws.subscribe(room).await;
    warm_up(&mut ws, &bob_m, room, "warm").await;
    let before = checks(&bob_m, "memory").await;
    let reply = ws
        .send_message(room, "from-memory", "checked from memory")
        .await;
    assert_eq!(checks(&bob_m, "memory").await, before + 1);
    let seq = reply["seq"].as_u64().expect("seq");
    let at = checked_at(&env, seq).await;
    assert!(
        (joined_at..seq).contains(&at),
        "{joined_at} <= {at} < {seq}"
    );
    env.cleanup().await;
}

/// With PostgreSQL out of reach, sends to a room whose rules and sender this gateway holds
/// still go through and reach the room's sockets, and what needs the database is answered
/// `unavailable` at once; once it is back, history has them and every read model verifies.
#[tokio::test]
async fn sends_go_on_while_postgres_is_out_of_reach() {
    let proxy = natter_testkit::Proxy::start("127.0.0.1:5432").await;
    let env = TestEnv::new().await.database_via(proxy.port);
    let natter = Natter::start_role(&env, Role::All, memory_config()).await;
    let alice = Api::register(&natter.base, "alice").await;
    let bob = Api::register(&natter.base, "bob").await;
    let room = alice.create_room("r", "public").await;
    // A room no socket here is in: its sends need the database.
    let elsewhere = alice.create_room("elsewhere", "public").await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let mut alice_ws = Ws::connect(&natter.ws_url(), alice.token())
        .await
        .expect("ws");
    alice_ws.subscribe(room).await;
    let mut bob_ws = Ws::connect(&natter.ws_url(), bob.token())
        .await
        .expect("ws");
    bob_ws.subscribe(room).await;
    warm_up(&mut bob_ws, &bob, room, "warm").await;

    proxy.cut();
    // Out of reach indeed: what needs PostgreSQL fails, with the error shape, without
    // waiting for a pool timeout.
    let started = std::time::Instant::now();
    let (status, reply) = alice.get(&format!("/v1/rooms/{room}/messages")).await;
    let read_answered = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
    assert_eq!(reply["error"]["code"], "unavailable", "{reply}");
    let started = std::time::Instant::now();
    let (status, reply) = alice
        .post(
            &format!("/v1/rooms/{elsewhere}/messages"),
            json!({"body": "needs the database", "client_msg_id": "elsewhere-1"}),
        )
        .await;
    let send_answered = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
    assert_eq!(reply["error"]["code"], "unavailable", "{reply}");
    println!(
        "postgres out of reach: a history read answered 503 in {} ms, a send that needs the database in {} ms",
        read_answered.as_millis(),
        send_answered.as_millis()
    );
    let mut sent = Vec::new();
    for i in 0..3 {
        let reply = bob_ws
            .send_message(room, &format!("down-{i}"), &format!("while down {i}"))
            .await;
        sent.push(reply["seq"].as_u64().expect("seq"));
    }
    let mut delivered = Vec::new();
    while delivered.len() < 3 {
        let frame = alice_ws.next_of("event").await;
        if frame["event"]["data"]["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("while down"))
        {
            delivered.push(frame["seq"].as_u64().expect("seq"));
        }
    }
    assert_eq!(delivered, sent);

    proxy.restore();
    let last = *sent.last().expect("sent");
    let stored: Vec<String> = alice
        .history_bodies(room, last)
        .await
        .into_iter()
        .filter(|b| b.starts_with("while down"))
        .collect();
    let expected: Vec<String> = (0..3).map(|i| format!("while down {i}")).collect();
    assert_eq!(stored.len(), 3, "{stored:?}");
    for body in &expected {
        assert!(stored.contains(body), "{body}: {stored:?}");
    }
    // Every read model caught up and agrees with a rebuild from the log.
    let mut verify = natter_testkit::NatterProcess::command(&env);
    verify.args(["projections", "verify", "all"]);
    let out = verify.output().await.expect("natter projections verify");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    natter.stop().await;
    env.cleanup().await;
}
