//! Blocking and conversation requests over the real surface: a block stops conversations
//! (opening and posting, both ways), keeps the blocked person's messages, reactions and typing
//! from the blocker's sockets (live and in resumes) and hides presence both ways; a user who
//! wants it gets strangers' conversations as requests to accept.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Setup, room_ids};

#[tokio::test]
async fn a_block_stops_conversations_deliveries_and_presence() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    let room = alice.create_room("lobby", "public").await;
    for user in [&bob, &carol] {
        let (status, _) = user
            .post(&format!("/v1/rooms/{room}/join"), json!({}))
            .await;
        assert!(status.is_success());
    }
    let (_, dm) = bob.post("/v1/dms", json!({"user_ids": [alice.id()]})).await;
    let dm = dm["id"].as_str().expect("dm id").to_owned();

    let (status, body) = alice
        .put(&format!("/v1/me/blocks/{}", alice.id()), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = alice
        .put(&format!("/v1/me/blocks/{}", Uuid::now_v7()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut alice_socket = s.ws(&alice).await;
    alice_socket.subscribe(room).await;
    for _ in 0..2 {
        let (status, _) = alice
            .put(&format!("/v1/me/blocks/{}", bob.id()), json!({}))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "blocking twice is harmless");
    }
    let (_, blocks) = alice.get("/v1/me/blocks").await;
    assert_eq!(blocks["blocks"][0]["user_id"], json!(bob.id()), "{blocks}");

    // No conversation either way.
    let (status, _) = bob.post("/v1/dms", json!({"user_ids": [alice.id()]})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (who, id) in [(&bob, "b1"), (&alice, "a1")] {
        let (status, body) = who
            .post(
                &format!("/v1/rooms/{dm}/messages"),
                json!({"body": "hi", "client_msg_id": id}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }

    // In a shared room, Bob's posts, reactions and typing do not reach Alice; Carol's do, and
    // Carol still gets Bob's.
    let mut bob_socket = s.ws(&bob).await;
    bob_socket.subscribe(room).await;
    let mut carol_socket = s.ws(&carol).await;
    carol_socket.subscribe(room).await;
    bob_socket
        .ok(json!({"type": "typing", "room_id": room, "state": "start"}))
        .await;
    let from_bob = bob.send(room, "b2", "from bob").await;
    let message = carol_socket.next_of("event").await;
    assert_eq!(message["seq"], from_bob);
    let message_id = message["event"]["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = bob
        .put(
            &format!("/v1/messages/{message_id}/reactions/%F0%9F%91%8D"),
            json!({}),
        )
        .await;
    assert!(status.is_success());
    let from_carol = carol.send(room, "c1", "from carol").await;
    let frames = alice_socket.drain(Duration::from_millis(700)).await;
    let events: Vec<&Value> = frames.iter().filter(|f| f["type"] == "event").collect();
    assert_eq!(events.len(), 1, "only Carol's post: {frames:?}");
    assert_eq!(events[0]["seq"], from_carol);
    assert!(
        frames.iter().all(|f| f["type"] != "typing"),
        "no typing from Bob: {frames:?}"
    );

    // A resume leaves Bob out too.
    let mut again = s.ws(&alice).await;
    let reply = again
        .ok(
            json!({"type": "subscribe", "room_id": room, "since": from_bob - 1,
                   "epoch": alice_socket.hello["epoch"]}),
        )
        .await;
    assert_eq!(reply["recovered"], true, "{reply}");
    let replayed = again.drain(Duration::from_millis(300)).await;
    let seqs: Vec<u64> = replayed
        .iter()
        .filter(|f| f["type"] == "event")
        .filter_map(|f| f["seq"].as_u64())
        .collect();
    assert_eq!(seqs, [from_carol], "{replayed:?}");

    // No presence either way, not even through the room.
    let (_, seen) = bob
        .get(&format!("/v1/presence?user_ids={}", alice.id()))
        .await;
    assert_eq!(seen["users"][0]["status"], "offline", "{seen}");
    let (_, seen) = alice
        .get(&format!("/v1/presence?user_ids={}", bob.id()))
        .await;
    assert_eq!(seen["users"][0]["status"], "offline", "{seen}");
    let (_, here) = alice.get(&format!("/v1/rooms/{room}/presence")).await;
    assert!(
        here["users"]
            .as_array()
            .expect("users")
            .iter()
            .all(|u| u["user_id"] != json!(bob.id())),
        "{here}"
    );

    // Unblocked, Bob reaches Alice again.
    let (status, _) = alice.delete(&format!("/v1/me/blocks/{}", bob.id())).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let later = bob.send(room, "b3", "again").await;
    let event = alice_socket.next_of("event").await;
    assert_eq!(event["seq"], later);
    let (status, _) = bob
        .post(
            &format!("/v1/rooms/{dm}/messages"),
            json!({"body": "hi", "client_msg_id": "b4"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    s.env.cleanup().await;
}

#[tokio::test]
async fn conversations_from_strangers_wait_for_acceptance_when_asked() {
    let s = Setup::new().await;
    let dave = s.user("dave").await;
    let erin = s.user("erin").await;
    let frank = s.user("frank").await;
    let room = frank.create_room("club", "public").await;
    let (status, _) = dave
        .post(&format!("/v1/rooms/{room}/join"), json!({}))
        .await;
    assert!(status.is_success());
    let (_, settings) = dave.get("/v1/me/settings").await;
    assert_eq!(settings["dm_requests"], false);
    let (status, body) = dave
        .patch("/v1/me/settings", json!({"dm_requestz": true}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, settings) = dave
        .patch("/v1/me/settings", json!({"dm_requests": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["dm_requests"], true);

    // Erin shares no room with Dave: a request. Frank does: a conversation.
    let (_, from_erin) = erin.post("/v1/dms", json!({"user_ids": [dave.id()]})).await;
    let request: Uuid = from_erin["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    assert!(
        from_erin.get("pending").is_none(),
        "Erin's side is a conversation: {from_erin}"
    );
    let (_, from_frank) = frank
        .post("/v1/dms", json!({"user_ids": [dave.id()]}))
        .await;
    let with_frank: Uuid = from_frank["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let sent = erin.send(request, "e1", "hello, stranger").await;
    assert!(sent > 0, "the stranger can write while it waits");

    let (_, joined) = dave.get("/v1/rooms").await;
    assert!(room_ids(&joined).contains(&with_frank));
    assert!(!room_ids(&joined).contains(&request), "{joined}");
    let (_, requests) = dave.get("/v1/rooms?scope=requests").await;
    assert_eq!(room_ids(&requests), [request], "{requests}");
    assert_eq!(requests["rooms"][0]["pending"], true);
    let (_, erins) = erin.get("/v1/rooms").await;
    assert!(room_ids(&erins).contains(&request));

    let (status, accepted) = dave
        .post(&format!("/v1/rooms/{request}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert!(accepted.get("pending").is_none(), "{accepted}");
    let (_, joined) = dave.get("/v1/rooms").await;
    assert!(room_ids(&joined).contains(&request));
    let (_, requests) = dave.get("/v1/rooms?scope=requests").await;
    assert!(room_ids(&requests).is_empty());
    let (status, _) = frank
        .post(&format!("/v1/rooms/{request}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not Frank's to accept");
    s.env.cleanup().await;
}
