//! End-to-end encrypted rooms over the real surface: only opaque payloads go in, and they come
//! out untouched (live, in history, in edits, in the log) and never in search; the device key
//! directory is readable by those who share a room with its owner only.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Setup;

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn encrypted_rooms_carry_only_opaque_payloads_untouched() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let eve = s.user("eve").await;

    // Only private rooms can be end-to-end encrypted.
    let (status, reply) = alice
        .post(
            "/v1/rooms",
            json!({"name": "open", "visibility": "public", "e2ee": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["field"], "e2ee");
    let (status, room) = alice
        .post(
            "/v1/rooms",
            json!({"name": "sealed", "visibility": "private", "e2ee": true,
                   "member_ids": [bob.id()]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(room["e2ee"], true);
    let room: Uuid = room["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let plain = alice.create_room("plain", "private").await;

    // Keys: published by a device, read by those who share a room.
    let (status, keys) = alice
        .put(
            "/v1/me/keys/phone-1",
            json!({"algorithm": "x25519", "public_key": "bW9jay1wdWJsaWMta2V5"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let (_, seen) = bob.get(&format!("/v1/users/{}/keys", alice.id())).await;
    assert_eq!(seen["keys"][0]["key_id"], "phone-1");
    assert_eq!(seen["keys"][0]["public_key"], "bW9jay1wdWJsaWMta2V5");
    let (_, in_room) = bob.get(&format!("/v1/rooms/{room}/keys")).await;
    assert_eq!(in_room["keys"].as_array().map(Vec::len), Some(1));
    let (status, _) = eve.get(&format!("/v1/users/{}/keys", alice.id())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = eve.get(&format!("/v1/rooms/{room}/keys")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, reply) = alice
        .put(
            "/v1/me/keys/bad%20id",
            json!({"algorithm": "x25519", "public_key": "k"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");

    // Plain text is refused in the encrypted room, and ciphertext in a plain one.
    let (status, reply) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"client_msg_id": "p", "body": "secret plans"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["field"], "encrypted");
    let sealed = json!({"ciphertext": "c2VjcmV0IHBsYW5z", "device_key_id": "phone-1"});
    let (status, reply) = alice
        .post(
            &format!("/v1/rooms/{plain}/messages"),
            json!({"client_msg_id": "q", "encrypted": sealed}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let (status, reply) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"client_msg_id": "r", "body": "leak", "encrypted": sealed}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["field"], "body");

    // An encrypted message travels untouched.
    let mut bob_ws = s.ws(&bob).await;
    bob_ws.subscribe(room).await;
    let mut alice_ws = s.ws(&alice).await;
    let reply = alice_ws
        .ok(json!({"type": "send", "room_id": room, "client_msg_id": "m1", "encrypted": sealed}))
        .await;
    let id = reply["message_id"].as_str().expect("id").to_owned();
    let live = bob_ws.events(1).await.remove(0);
    let message = &live["event"]["data"];
    assert_eq!(message["encrypted"], sealed);
    assert_eq!(message["body"], "");
    assert!(message["html"].is_null());
    let seq = live["seq"].as_u64().expect("seq");
    let (_, page) = bob
        .get(&format!("/v1/rooms/{room}/messages?min_seq={seq}"))
        .await;
    assert_eq!(page["messages"][0]["encrypted"], sealed);

    // Not searchable, whatever is asked.
    let (_, found) = bob
        .get(&format!("/v1/search?q=c2VjcmV0IHBsYW5z&min_seq={seq}"))
        .await;
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(0),
        "{found}"
    );

    // Edits: encrypted again, or refused.
    let resealed = json!({"ciphertext": "bmV3IHBsYW5z", "device_key_id": "phone-1"});
    let (status, reply) = alice
        .patch(&format!("/v1/messages/{id}"), json!({"body": "new plans"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let edit = alice_ws
        .ok(json!({"type": "edit", "message_id": id, "encrypted": resealed}))
        .await;
    let edit_seq = edit["seq"].as_u64().expect("seq");
    let live = bob_ws.events(1).await.remove(0);
    assert_eq!(live["event"]["data"]["encrypted"], resealed);
    let (_, versions) = bob
        .get(&format!("/v1/messages/{id}/edits?min_seq={edit_seq}"))
        .await;
    assert_eq!(versions["versions"][0]["encrypted"], sealed);
    assert_eq!(versions["versions"][1]["encrypted"], resealed);

    // The room stays private; the log holds the payload as it was sent.
    let (status, reply) = alice
        .patch(
            &format!("/v1/rooms/{room}"),
            json!({"visibility": "public"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let bus = s.env.bus().await;
    let stored = natter_testkit::log_events(&bus)
        .await
        .into_iter()
        .find(|(s, _)| *s == seq)
        .map(|(_, e)| serde_json::to_value(&e).expect("json"))
        .expect("the post");
    assert_eq!(stored["data"]["encrypted"], sealed);
    assert!(!stored.to_string().contains("secret plans"));

    // A withdrawn key is gone from the directory.
    let (status, _) = alice.delete("/v1/me/keys/phone-1").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, seen) = bob.get(&format!("/v1/users/{}/keys", alice.id())).await;
    assert_eq!(seen["keys"], json!([]));
    let (status, reply) = alice.delete("/v1/me/keys/phone-1").await;
    assert_eq!(code(&reply), "not_found", "{status} {reply}");
    s.finish().await;
}
