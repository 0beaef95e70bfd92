//! Edits, deletes and threads, over the real REST and WebSocket surface, with their
//! permission failures (reactions and pins: `marks.rs`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Setup;

/// Posts over REST; returns (message id, seq).
pub async fn post(api: &natter_testkit::Api, room: Uuid, cmid: &str, body: Value) -> (Uuid, u64) {
    let mut req = json!({"client_msg_id": cmid});
    if let (Some(req), Some(extra)) = (req.as_object_mut(), body.as_object()) {
        req.extend(extra.clone());
    }
    let (status, reply) = api.post(&format!("/v1/rooms/{room}/messages"), req).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    (
        reply["message_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id"),
        reply["seq"].as_u64().expect("seq"),
    )
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn edits_keep_their_history_and_only_the_author_edits() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let room = alice.create_room("r", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let mut bob_ws = s.ws(&bob).await;
    bob_ws.subscribe(room).await;
    let (id, _) = post(&alice, room, "c1", json!({"body": "first"})).await;
    assert_eq!(bob_ws.events(1).await[0]["event"]["type"], "message.posted");

    // Over the socket: the reply names the event, and the room hears of it live.
    let mut alice_ws = s.ws(&alice).await;
    let reply = alice_ws
        .ok(json!({"type": "edit", "message_id": id, "body": "second"}))
        .await;
    assert_eq!(reply["changed"], true);
    let edit_seq = reply["seq"].as_u64().expect("seq");
    let live = &bob_ws.events(1).await[0];
    assert_eq!(live["seq"], edit_seq);
    assert_eq!(live["event"]["type"], "message.edited");
    assert_eq!(live["event"]["data"]["message_id"], id.to_string());
    assert_eq!(live["event"]["data"]["body"], "second");

    // Over REST.
    let (status, reply) = alice
        .patch(&format!("/v1/messages/{id}"), json!({"body": "third"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    // The same body again is no change (a retry), and appends nothing.
    let (_, again) = alice
        .patch(&format!("/v1/messages/{id}"), json!({"body": "third"}))
        .await;
    assert_eq!(again["changed"], false);
    assert!(again.get("seq").is_none());

    let (_, message) = alice.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(message["body"], "third");
    assert!(message["edited_at"].is_string());
    let (_, edits) = bob.get(&format!("/v1/messages/{id}/edits")).await;
    let bodies: Vec<&str> = edits["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["body"].as_str().expect("body"))
        .collect();
    assert_eq!(bodies, ["first", "second", "third"]);
    assert_eq!(edits["versions"][1]["seq"], edit_seq);

    // Someone else's message: forbidden, on both surfaces, and nothing changes.
    let (status, body) = bob
        .patch(&format!("/v1/messages/{id}"), json!({"body": "mine now"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let reply = bob_ws
        .request(json!({"type": "edit", "message_id": id, "body": "mine now"}))
        .await;
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["error"]["code"], "forbidden");
    // Bad input.
    let (status, body) = alice
        .patch(&format!("/v1/messages/{id}"), json!({"body": "   "}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid"));
    let (status, _) = alice
        .patch(
            &format!("/v1/messages/{}", Uuid::now_v7()),
            json!({"body": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, message) = alice.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(message["body"], "third");
    s.finish().await;
}

#[tokio::test]
async fn deletes_keep_the_place_and_need_the_author_or_an_admin() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let carol = s.user("carol").await;
    let room = alice.create_room("r", "public").await;
    for u in [&bob, &carol] {
        u.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    }
    let (by_bob, _) = post(&bob, room, "b1", json!({"body": "bob's"})).await;
    let (by_bob_2, _) = post(&bob, room, "b2", json!({"body": "bob's second"})).await;
    bob.patch(
        &format!("/v1/messages/{by_bob}"),
        json!({"body": "bob's, edited"}),
    )
    .await;

    // Carol is neither the author nor an admin.
    let (status, body) = carol.delete(&format!("/v1/messages/{by_bob}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The author deletes over the socket; everyone sees it live.
    let mut carol_ws = s.ws(&carol).await;
    carol_ws.subscribe(room).await;
    let mut bob_ws = s.ws(&bob).await;
    let reply = bob_ws
        .ok(json!({"type": "delete", "message_id": by_bob}))
        .await;
    assert_eq!(reply["changed"], true);
    let live = &carol_ws.events(1).await[0];
    assert_eq!(live["event"]["type"], "message.deleted");
    assert_eq!(live["event"]["data"]["message_id"], by_bob.to_string());
    // Deleting again changes nothing.
    let reply = bob_ws
        .ok(json!({"type": "delete", "message_id": by_bob}))
        .await;
    assert_eq!(reply["changed"], false);

    // The owner (an admin) deletes someone else's.
    let (status, body) = alice.delete(&format!("/v1/messages/{by_bob_2}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, page) = carol.get(&format!("/v1/rooms/{room}/messages")).await;
    let messages = page["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "deleted messages keep their place");
    for m in messages {
        assert_eq!(m["deleted"], true);
        assert_eq!(m["body"], Value::Null);
    }
    let (_, edits) = carol.get(&format!("/v1/messages/{by_bob}/edits")).await;
    assert_eq!(
        edits["versions"],
        json!([]),
        "no old bodies of a deleted message"
    );
    // A deleted message cannot be edited or reacted to.
    let (status, body) = bob
        .patch(&format!("/v1/messages/{by_bob}"), json!({"body": "back"}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
    let (status, _) = carol
        .put(&format!("/v1/messages/{by_bob}/reactions/👍"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    s.finish().await;
}

#[tokio::test]
async fn threads_gather_replies_under_their_root() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let room = alice.create_room("r", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let (root, _) = post(&alice, room, "root", json!({"body": "root"})).await;
    let (r1, _) = post(
        &bob,
        room,
        "r1",
        json!({"body": "reply 1", "thread_root_id": root}),
    )
    .await;
    // A reply to a reply goes to the root's thread.
    let mut ws = s.ws(&alice).await;
    let sent = ws
        .ok(
            json!({"type": "send", "room_id": room, "client_msg_id": "r2",
                   "body": "reply 2", "thread_root_id": r1}),
        )
        .await;
    let mut last = sent["seq"].as_u64().expect("seq");
    for i in 3..=5 {
        last = post(
            &bob,
            room,
            &format!("r{i}"),
            json!({"body": format!("reply {i}"), "thread_root_id": root}),
        )
        .await
        .1;
    }
    let (status, page) = alice
        .get(&format!(
            "/v1/messages/{root}/thread?limit=3&min_seq={last}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["root"]["id"], root.to_string());
    assert_eq!(page["root"]["reply_count"], 5);
    assert!(page["root"]["last_reply_at"].is_string());
    assert_eq!(
        page["root"]["thread_participants"],
        json!([bob.id(), alice.id()]),
        "in order of first reply"
    );
    let replies = page["replies"].as_array().expect("replies");
    let bodies: Vec<&str> = replies
        .iter()
        .map(|r| r["body"].as_str().expect("body"))
        .collect();
    assert_eq!(bodies, ["reply 1", "reply 2", "reply 3"]);
    assert!(
        replies
            .iter()
            .all(|r| r["thread_root_id"] == root.to_string())
    );
    assert_eq!(page["has_more"], true);
    let after = replies[2]["seq"].as_u64().expect("seq");
    let (_, rest) = alice
        .get(&format!("/v1/messages/{root}/thread?after={after}"))
        .await;
    let bodies: Vec<&str> = rest["replies"]
        .as_array()
        .expect("replies")
        .iter()
        .map(|r| r["body"].as_str().expect("body"))
        .collect();
    assert_eq!(bodies, ["reply 4", "reply 5"]);
    assert_eq!(rest["has_more"], false);

    // A deleted reply no longer counts.
    bob.delete(&format!("/v1/messages/{r1}")).await;
    let (_, root_now) = alice.get(&format!("/v1/messages/{root}")).await;
    assert_eq!(root_now["reply_count"], 4);

    // A reply is not a thread; a root from another room is refused.
    let (status, _) = alice.get(&format!("/v1/messages/{r1}/thread")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let other = alice.create_room("other", "public").await;
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{other}/messages"),
            json!({"client_msg_id": "x", "body": "x", "thread_root_id": root}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid"));
    s.finish().await;
}

/// Retries racing the first attempt (a client that timed out and sent again, on another
/// gateway even): the same edit is one version, the same delete one event.
#[tokio::test]
async fn racing_retries_of_an_edit_or_a_delete_count_once() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let (id, _) = post(&alice, room, "c1", json!({"body": "first"})).await;
    let mut watcher = s.ws(&alice).await;
    watcher.subscribe(room).await;

    let edits = (0..6).map(|_| {
        let api = alice.clone();
        tokio::spawn(async move {
            api.patch(&format!("/v1/messages/{id}"), json!({"body": "second"}))
                .await
        })
    });
    for edit in edits.collect::<Vec<_>>() {
        let (status, body) = edit.await.expect("edit");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, history) = alice.get(&format!("/v1/messages/{id}/edits")).await;
    let bodies: Vec<&str> = history["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["body"].as_str().expect("body"))
        .collect();
    assert_eq!(bodies, ["first", "second"], "one edit");

    let deletes = (0..6).map(|_| {
        let api = alice.clone();
        tokio::spawn(async move { api.delete(&format!("/v1/messages/{id}")).await })
    });
    for delete in deletes.collect::<Vec<_>>() {
        let (status, body) = delete.await.expect("delete");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let events = watcher.drain(Duration::from_millis(500)).await;
    let types: Vec<&str> = events
        .iter()
        .filter(|f| f["type"] == "event")
        .map(|f| f["event"]["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        ["message.edited", "message.deleted"],
        "each change once on the wire"
    );
    s.finish().await;
}
