use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::Setup;

#[tokio::test]
async fn a_retried_send_is_stored_and_delivered_once() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let mut watcher = s.ws(&alice).await;
    watcher.subscribe(room).await;
    let mut ws = s.ws(&alice).await;

    // WebSocket: the retry inside JetStream's dedupe window is answered by the log.
    let first = ws.send_message(room, "c-1", "hello").await;
    assert_eq!(first["duplicate"], false);
    let again = ws.send_message(room, "c-1", "hello").await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["message_id"], first["message_id"]);

    // REST: same client_msg_id space per user; a retry answers the original.
    let path = format!("/v1/rooms/{room}/messages");
    let (status, rest1) = alice
        .post(&path, json!({"body": "via rest", "client_msg_id": "c-2"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, rest2) = alice
        .post(&path, json!({"body": "via rest", "client_msg_id": "c-2"}))
        .await;
    assert_eq!(rest2["duplicate"], true);
    assert_eq!(rest2["seq"], rest1["seq"]);
    let (_, cross) = alice
        .post(&path, json!({"body": "hello", "client_msg_id": "c-1"}))
        .await;
    assert_eq!(cross["seq"], first["seq"], "REST retry of a WS send");

    // After the read model has it (what answers retries beyond the dedupe window).
    crate::wait_history(&alice, room, 2).await;
    let late = ws.send_message(room, "c-1", "hello").await;
    assert_eq!(late["duplicate"], true);
    assert_eq!(late["seq"], first["seq"]);

    // Another user's identical client_msg_id is their own message.
    let bob = s.user("bob").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let (_, theirs) = bob
        .post(&path, json!({"body": "mine", "client_msg_id": "c-1"}))
        .await;
    assert_eq!(theirs["duplicate"], false);
    assert_ne!(theirs["message_id"], first["message_id"]);

    let messages = crate::wait_history(&alice, room, 3).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    let frames = watcher.drain(Duration::from_millis(700)).await;
    let posted: Vec<_> = frames
        .iter()
        .filter(|f| f["type"] == "event" && f["event"]["type"] == "message.posted")
        .collect();
    assert_eq!(posted.len(), 3, "delivered once each: {posted:?}");
    s.finish().await;
}

/// A client_msg_id names one message per sender: reusing it in another room is a conflict, not
/// a silent "duplicate" of the first room's message.
#[tokio::test]
async fn a_client_msg_id_reused_in_another_room_is_a_conflict() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let a = alice.create_room("a", "public").await;
    let b = alice.create_room("b", "public").await;
    alice.send(a, "same", "in a").await;
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{b}/messages"),
            json!({"body": "in b", "client_msg_id": "same"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "inside the dedupe window: {body}"
    );
    assert_eq!(body["error"]["field"], "client_msg_id");
    crate::wait_history(&alice, a, 1).await;
    let (status, _) = alice
        .post(
            &format!("/v1/rooms/{b}/messages"),
            json!({"body": "in b", "client_msg_id": "same"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "answered from the read model");
    s.finish().await;
}
