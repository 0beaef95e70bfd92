//! Access that ends stays ended: a removal reaches every kind of interest a socket has in a
//! room, whatever the interleaving, and what a socket is shown of the past is no more than
//! the read models show now.

use std::time::Duration;

use natter_testkit::{Api, Natter, Role, TestEnv, Ws};
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
fn events_after(frames: &[Value], seq: u64) -> Vec<&Value> {
    frames
        .iter()
        .filter(|f| f["type"] == "event" && f["seq"].as_u64().is_some_and(|s| s >= seq))
        .collect()
}

/// A member kicked while their fresh socket subscribes gets nothing after the kick, whichever
/// comes first: the kick, the subscribe, or the gateway's own subscription to the room. Run
/// many times with random offsets, on two gateways, with the kicked socket's gateway sometimes
/// already holding the room for another socket and sometimes not.
#[tokio::test]
async fn a_kick_racing_a_subscribe_never_leaks_later_events() {
    const ROUNDS: usize = 240;
    const WORKERS: usize = 4;
    let env = TestEnv::new().await;
    let a = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let b = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let fanout = Natter::start_role(&env, Role::Fanout, natter_testkit::gateway_config()).await;
    let gateways = [a.base.clone(), b.base.clone()];
    let owner = Api::register(&a.base, "owner").await;
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let owner = owner.clone();
        let gateways = gateways.clone();
        let kicked = Api::register(&b.base, &format!("kicked{w}")).await;
        workers.push(tokio::spawn(async move {
            let mut outcomes = [0usize; 3];
            for round in 0..ROUNDS / WORKERS {
                let outcome = kick_race_round(&owner, &kicked, &gateways, round).await;
                outcomes[outcome] += 1;
            }
            outcomes
        }));
    }
    let mut totals = [0usize; 3];
    for worker in workers {
        let outcomes = worker.await.expect("worker");
        for (t, o) in totals.iter_mut().zip(outcomes) {
            *t += o;
        }
    }
    // Not an assertion on timing: a record of which interleavings the rounds reached.
    eprintln!(
        "kick race: refused {}, accepted then ended by the kick {}, other {}",
        totals[0], totals[1], totals[2]
    );
    for n in [fanout, projector, b, a] {
        n.stop().await;
    }
    env.cleanup().await;
}

/// One round; returns 0 when the subscribe was refused, 1 when it was accepted and the kick
/// then delivered and ended it, 2 when it was ended without the kick's event (replayed
/// subscriptions only).
async fn kick_race_round(owner: &Api, kicked: &Api, gateways: &[String; 2], round: usize) -> usize {
    let (gateway, busy, kick_delay, subscribe_delay) = {
        let mut rng = rand::rng();
        (
            gateways[rng.random_range(0..2)].clone(),
            rng.random_bool(0.3),
            rng.random_range(0..25u64),
            rng.random_range(0..25u64),
        )
    };
    let (status, room) = owner
        .post(
            "/v1/rooms",
            json!({"name": format!("r{round}"), "visibility": "private", "member_ids": [kicked.id()]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room: Uuid = room["id"].as_str().expect("id").parse().expect("uuid");
    let ws_url = format!("{}/v1/ws", gateway.replacen("http", "ws", 1));
    // Sometimes the kicked socket's gateway already holds the room for the owner's socket.
    let mut watcher = Ws::connect(&ws_url, owner.token()).await.expect("ws");
    if busy {
        watcher.subscribe(room).await;
    }
    let mut socket = Ws::connect(&ws_url, kicked.token()).await.expect("ws");
    let kick = {
        let owner = owner.clone();
        let path = format!("/v1/rooms/{room}/members/{}", kicked.id());
        async move {
            tokio::time::sleep(Duration::from_millis(kick_delay)).await;
            owner.delete(&path).await.0
        }
    };
    let subscribe = async {
        tokio::time::sleep(Duration::from_millis(subscribe_delay)).await;
        socket
            .request(json!({"type": "subscribe", "room_id": room}))
            .await
    };
    let (kicked_status, reply) = tokio::join!(kick, subscribe);
    assert_eq!(kicked_status, StatusCode::NO_CONTENT);
    if !busy {
        watcher.subscribe(room).await;
    }
    // A message after the kick, seen by a member's socket on the same gateway: by then the
    // room's delivery on that gateway has handed it to every socket it was going to reach.
    let after = owner
        .send(room, &Uuid::now_v7().to_string(), "after the kick")
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events_after(&watcher.settle().await, after).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the member never saw {after}"
        );
    }
    let frames = socket.settle().await;
    let leaked = events_after(&frames, after);
    assert!(
        leaked.is_empty(),
        "round {round} (busy {busy}, kick +{kick_delay} ms, subscribe +{subscribe_delay} ms): \
         a kicked member got {leaked:?}; subscribe reply {reply}"
    );
    watcher.close().await;
    socket.close().await;
    if reply["ok"] == false {
        assert_eq!(reply["error"]["code"], "not_found", "{reply}");
        0
    } else {
        // Accepted: the kick came after the gateway's view, so it was delivered and ended it.
        let ended = frames
            .iter()
            .find(|f| f["type"] == "unsubscribed")
            .unwrap_or_else(|| panic!("round {round}: accepted, never ended: {frames:?}"));
        assert_eq!(ended["reason"], "kicked");
        let kick_seen = frames
            .iter()
            .any(|f| f["type"] == "event" && f["event"]["type"] == "member.kicked");
        if kick_seen { 1 } else { 2 }
    }
}

/// A resume shows a deleted message's events in their place, without its text: not the
/// post's body or mentions, not the bodies of its edits.
#[tokio::test]
async fn a_resume_shows_no_text_of_deleted_messages() {
    let s = crate::Setup::new().await;
    let alice = s.user("alice").await;
    let _bob = s.user("bobby").await;
    let eve = s.user("eve").await;
    let room = alice.create_room("open", "public").await;
    let kept = alice.send(room, "k", "still here").await;
    let gone = alice.send(room, "g", "secret-post @bobby").await;
    let messages = crate::wait_history(&alice, room, 2).await;
    let gone_id = messages
        .iter()
        .find(|m| m["seq"] == json!(gone))
        .expect("message")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = alice
        .patch(
            &format!("/v1/messages/{gone_id}"),
            json!({"body": "secret-edit"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = alice.delete(&format!("/v1/messages/{gone_id}")).await;
    assert_eq!(status, StatusCode::OK);

    // Eve was never a member: she resumes from before both messages.
    let mut ws = s.ws(&eve).await;
    let epoch = ws.hello["epoch"].clone();
    let reply = ws
        .ok(json!({"type": "subscribe", "room_id": room, "since": kept - 1, "epoch": epoch}))
        .await;
    assert_eq!(reply["recovered"], true);
    let frames = ws.settle().await;
    let text = serde_json::to_string(&frames).expect("json");
    assert!(!text.contains("secret"), "{text}");
    let types: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "event")
        .map(|f| f["event"]["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "message.posted",
            "message.posted",
            "message.edited",
            "message.deleted"
        ]
    );
    let posted = &frames
        .iter()
        .find(|f| f["seq"] == json!(gone))
        .expect("post")["event"];
    assert_eq!(posted["redacted"], true);
    assert_eq!(posted["data"]["body"], Value::Null);
    assert_eq!(posted["data"]["deleted"], true);
    assert_eq!(posted["data"]["mentions"], json!([]));
    let still = &frames
        .iter()
        .find(|f| f["seq"] == json!(kept))
        .expect("post")["event"];
    assert_eq!(still["data"]["body"], "still here");
    assert!(still.get("redacted").is_none());
    s.finish().await;
}

/// Kicked, a socket stops getting the room's typing, and a refused re-subscribe does not
/// bring it back; read positions reach members only, live and in a resume.
#[tokio::test]
async fn removal_ends_typing_and_receipts_are_for_members() {
    let s = crate::Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let carol = s.user("carol").await;
    let eve = s.user("eve").await;
    let room = alice.create_room("open", "public").await;
    for user in [&bob, &carol] {
        let (status, _) = user
            .post(&format!("/v1/rooms/{room}/join"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut typist = s.ws(&alice).await;
    let mut kicked = s.ws(&bob).await;
    let mut member = s.ws(&carol).await;
    let mut visitor = s.ws(&eve).await;
    for ws in [&mut typist, &mut kicked, &mut member, &mut visitor] {
        ws.subscribe(room).await;
    }
    let (status, _) = alice
        .put(&format!("/v1/rooms/{room}/bans/{}", bob.id()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(kicked.next_of("unsubscribed").await["reason"], "banned");
    let again = kicked
        .request(json!({"type": "subscribe", "room_id": room}))
        .await;
    assert_eq!(again["error"]["code"], "forbidden", "{again}");
    typist
        .ok(json!({"type": "typing", "room_id": room, "state": "start"}))
        .await;
    assert_eq!(member.next_of("typing").await["state"], "start");
    let frames = kicked.settle().await;
    assert!(
        frames.iter().all(|f| f["type"] != "typing"),
        "typing after a ban: {frames:?}"
    );

    // Receipts: the member sees Alice's read position, the visitor does not.
    // (Carol writes: one's own message moves one's position without a read event.)
    let seq = carol.send(room, "m1", "hello").await;
    let (status, _) = alice
        .post(&format!("/v1/rooms/{room}/read"), json!({"seq": seq}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let read = loop {
        let frame = member.next_of("event").await;
        if frame["event"]["type"] == "read.updated" {
            break frame;
        }
    };
    let frames = visitor.settle().await;
    assert!(frames.iter().any(|f| f["seq"] == json!(seq)), "{frames:?}");
    assert!(
        frames.iter().all(|f| f["event"]["type"] != "read.updated"),
        "a visitor got a read position: {frames:?}"
    );
    // ...nor in a resume; once she joins, she gets the next one.
    let mut resumed = s.ws(&eve).await;
    let epoch = resumed.hello["epoch"].clone();
    resumed
        .ok(json!({"type": "subscribe", "room_id": room, "since": seq - 1, "epoch": epoch}))
        .await;
    let frames = resumed.settle().await;
    assert!(
        frames.iter().all(|f| f["event"]["type"] != "read.updated"),
        "{frames:?}"
    );
    let (status, _) = eve.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let next = carol.send(room, "m2", "again").await;
    alice
        .post(&format!("/v1/rooms/{room}/read"), json!({"seq": next}))
        .await;
    let got = loop {
        let frame = visitor.next_of("event").await;
        if frame["event"]["type"] == "read.updated" {
            break frame;
        }
    };
    assert!(got["seq"].as_u64() > read["seq"].as_u64());
    s.finish().await;
}
