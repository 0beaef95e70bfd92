//! Mentions, read positions, receipts, unread and mention counts.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Setup;

/// `GET /v1/unread` once the unread model has `seq`; the entry for `room`.
async fn unread_of(api: &natter_testkit::Api, room: Uuid, seq: u64) -> (Value, Value) {
    let (status, summary) = api.get(&format!("/v1/unread?min_seq={seq}")).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let entry = summary["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["room_id"] == room.to_string())
        .cloned()
        .unwrap_or(Value::Null);
    (entry, summary)
}

#[tokio::test]
async fn mentions_notify_wherever_the_user_is_and_count_until_read() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let carol = s.user("carol").await;
    let room = alice.create_room("r", "public").await;
    for u in [&bob, &carol] {
        u.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    }
    // Bob is connected but not subscribed to the room: the mention still reaches him.
    let mut bob_ws = s.ws(&bob).await;
    let mut carol_ws = s.ws(&carol).await;
    let seq = alice
        .send(
            room,
            "c1",
            "@bobby @BOBBY can you look? cc @nobody, not@carol",
        )
        .await;
    let notice = bob_ws.next_of("notice").await;
    assert_eq!(notice["seq"], seq);
    assert_eq!(notice["room_id"], room.to_string());
    assert_eq!(notice["event"]["type"], "message.posted");
    assert_eq!(notice["event"]["data"]["mentions"], json!([bob.id()]));
    let frames = carol_ws.drain(Duration::from_millis(300)).await;
    assert!(
        frames.iter().all(|f| f["type"] != "notice"),
        "an email-like word is not a mention: {frames:?}"
    );

    let (entry, summary) = unread_of(&bob, room, seq).await;
    assert_eq!(entry["unread"], 1);
    assert_eq!(entry["mentions"], 1);
    assert_eq!(summary["total_mentions"], 1);
    let (entry, _) = unread_of(&carol, room, seq).await;
    assert_eq!(
        (entry["unread"].clone(), entry["mentions"].clone()),
        (json!(1), json!(0))
    );

    // An edit that drops the mention drops the unread mention; one that adds it back counts.
    let id = natter_schemas::ids::message_id(alice.id(), "c1");
    let (_, reply) = alice
        .patch(
            &format!("/v1/messages/{id}"),
            json!({"body": "never mind, @carol"}),
        )
        .await;
    let edit_seq = reply["seq"].as_u64().expect("seq");
    let (entry, _) = unread_of(&bob, room, edit_seq).await;
    assert_eq!(entry["mentions"], 0);
    let (entry, _) = unread_of(&carol, room, edit_seq).await;
    assert_eq!(entry["mentions"], 1);

    // Reading past it clears it.
    let reply = carol_ws
        .ok(json!({"type": "read", "room_id": room, "seq": seq}))
        .await;
    assert_eq!(reply["unread"], 0);
    assert_eq!(reply["mentions"], 0);
    assert_eq!(reply["last_read_seq"], seq);
    s.finish().await;
}

#[tokio::test]
async fn unread_counts_follow_reads_sends_and_deletes() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let room = alice.create_room("r", "public").await;
    let quiet = alice.create_room("quiet", "public").await;
    // History before Bob joined is not unread for him.
    alice.send(room, "before", "before bob").await;
    for r in [room, quiet] {
        bob.post(&format!("/v1/rooms/{r}/join"), json!({})).await;
    }
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(alice.send(room, &format!("c{i}"), &format!("m{i}")).await);
    }
    let last = seqs[4];
    let (entry, summary) = unread_of(&bob, room, last).await;
    assert_eq!(entry["unread"], 5);
    assert_eq!(entry["last_seq"], last);
    assert_eq!(summary["total_unread"], 5);
    assert_eq!(summary["rooms"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        summary["rooms"][0]["room_id"],
        room.to_string(),
        "most recently active first"
    );
    let (entry, _) = unread_of(&alice, room, last).await;
    assert_eq!(entry["unread"], 0, "one's own messages are never unread");

    // Reading up to the third leaves two; reading backwards changes nothing.
    let (status, reply) = bob
        .post(&format!("/v1/rooms/{room}/read"), json!({"seq": seqs[2]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["unread"], 2);
    assert_eq!(reply["last_read_seq"], seqs[2]);
    let (_, reply) = bob
        .post(&format!("/v1/rooms/{room}/read"), json!({"seq": seqs[0]}))
        .await;
    assert_eq!(
        (reply["unread"].clone(), reply["last_read_seq"].clone()),
        (json!(2), json!(seqs[2]))
    );

    // A deleted unread message is no longer unread; a deleted read one changes nothing.
    let del = alice
        .delete(&format!(
            "/v1/messages/{}",
            natter_schemas::ids::message_id(alice.id(), "c4")
        ))
        .await
        .1["seq"]
        .as_u64()
        .expect("seq");
    let del_read = alice
        .delete(&format!(
            "/v1/messages/{}",
            natter_schemas::ids::message_id(alice.id(), "c0")
        ))
        .await
        .1["seq"]
        .as_u64()
        .expect("seq");
    let (entry, _) = unread_of(&bob, room, del.max(del_read)).await;
    assert_eq!(entry["unread"], 1);

    // The room list carries the same counts.
    let (_, rooms) = bob.get("/v1/rooms").await;
    let listed = rooms["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["id"] == room.to_string())
        .cloned()
        .expect("room listed");
    assert_eq!(listed["unread"], 1);
    assert_eq!(listed["mentions"], 0);
    assert_eq!(listed["last_read_seq"], seqs[2]);

    // Sending moves the sender's position to the message: nothing before it stays unread.
    let own = bob.send(room, "b1", "caught up").await;
    let (entry, _) = unread_of(&bob, room, own).await;
    assert_eq!(
        (entry["unread"].clone(), entry["last_read_seq"].clone()),
        (json!(0), json!(own))
    );

    // A seq from the future reads up to the newest event, no further.
    let newer = alice.send(room, "c9", "after").await;
    let (_, reply) = bob
        .post(&format!("/v1/rooms/{room}/read"), json!({"seq": 1_000_000}))
        .await;
    assert_eq!(reply["last_read_seq"], newer);
    let later = alice.send(room, "c10", "later").await;
    let (entry, _) = unread_of(&bob, room, later).await;
    assert_eq!(
        entry["unread"], 1,
        "a message after a too-far read still counts"
    );

    // Leaving drops the room from the counts; reading a room one is not in is refused.
    bob.post(&format!("/v1/rooms/{quiet}/leave"), json!({}))
        .await;
    let (_, summary) = bob.get("/v1/unread").await;
    assert!(
        summary["rooms"]
            .as_array()
            .expect("rooms")
            .iter()
            .all(|r| r["room_id"] != quiet.to_string())
    );
    let (status, _) = bob
        .post(&format!("/v1/rooms/{quiet}/read"), json!({"seq": 1}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = bob
        .post(&format!("/v1/rooms/{room}/read"), json!({"seq": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    s.finish().await;
}

#[tokio::test]
async fn receipts_say_who_has_read_and_reach_the_room_live() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let eve = s.user("eve").await;
    let room = alice.create_room("r", "public").await;
    let secret = alice.create_room("secret", "private").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let first = alice.send(room, "c1", "one").await;
    let second = alice.send(room, "c2", "two").await;
    let mut alice_ws = s.ws(&alice).await;
    alice_ws.subscribe(room).await;

    let mut bob_ws = s.ws(&bob).await;
    let reply = bob_ws
        .ok(json!({"type": "read", "room_id": room, "seq": first}))
        .await;
    assert_eq!(reply["last_read_seq"], first);
    let live = &alice_ws.events(1).await[0];
    assert_eq!(live["event"]["type"], "read.updated");
    assert_eq!(live["event"]["actor_id"], bob.id().to_string());
    assert_eq!(live["event"]["data"]["seq"], first);
    let read_seq = live["seq"].as_u64().expect("seq");

    let (status, receipts) = alice
        .get(&format!(
            "/v1/rooms/{room}/receipts?seq={first}&min_seq={read_seq}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{receipts}");
    let who: Vec<&str> = receipts["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .map(|r| r["user_id"].as_str().expect("user"))
        .collect();
    // Alice sent both (her position is at the second), Bob read the first.
    assert_eq!(who, [alice.id().to_string(), bob.id().to_string()]);
    let (_, receipts) = alice
        .get(&format!("/v1/rooms/{room}/receipts?seq={second}"))
        .await;
    assert_eq!(receipts["receipts"].as_array().map(Vec::len), Some(1));

    // Not a member: forbidden in a public room, invisible in a private one.
    let (status, _) = eve.get(&format!("/v1/rooms/{room}/receipts")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = eve.get(&format!("/v1/rooms/{secret}/receipts")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.finish().await;
}
