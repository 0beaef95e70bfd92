use reqwest::StatusCode;
use serde_json::json;

use crate::Setup;

/// A non-member cannot subscribe to, read, send to, or find a private room or a DM.
#[tokio::test]
async fn private_rooms_and_dms_are_invisible_to_non_members() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let mallory = s.user("mallory").await;

    let private = alice.create_room("secret", "private").await;
    let (_, dm) = alice.post("/v1/dms", json!({"user_ids": [bob.id()]})).await;
    let dm: uuid::Uuid = dm["id"].as_str().expect("id").parse().expect("uuid");
    alice.send(private, "p1", "private words").await;
    alice.send(dm, "d1", "dm words").await;

    let mut ws = s.ws(&mallory).await;
    for room in [private, dm] {
        let reply = ws
            .request(json!({"type": "subscribe", "room_id": room}))
            .await;
        assert_eq!(reply["ok"], false, "{reply}");
        assert_eq!(reply["error"]["code"], "not_found");
        let reply = ws
            .request(json!({"type": "send", "room_id": room, "client_msg_id": "m", "body": "hi"}))
            .await;
        assert_eq!(reply["error"]["code"], "not_found", "{reply}");
        for path in [
            format!("/v1/rooms/{room}"),
            format!("/v1/rooms/{room}/messages"),
            format!("/v1/rooms/{room}/members"),
        ] {
            let (status, body) = mallory.get(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
        let (status, _) = mallory
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"body": "x", "client_msg_id": "y"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = mallory
            .post(&format!("/v1/rooms/{room}/join"), json!({}))
            .await;
        assert!(status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN);
    }
    let (_, public) = mallory.get("/v1/rooms?scope=public").await;
    assert_eq!(public["rooms"], json!([]));
    let (_, mine) = mallory.get("/v1/rooms").await;
    assert_eq!(mine["rooms"], json!([]));
    let messages = crate::wait_history(&alice, private, 1).await;
    let (status, _) = mallory
        .get(&format!(
            "/v1/messages/{}",
            messages[0]["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Members see it all.
    let (_, mine) = bob.get("/v1/rooms").await;
    assert_eq!(mine["rooms"][0]["id"], json!(dm));
    assert_eq!(
        crate::wait_history(&bob, dm, 1).await[0]["body"],
        "dm words"
    );
    ws.close().await;
    s.finish().await;
}

/// A public room made private stops streaming to readers who are not members.
#[tokio::test]
async fn making_a_room_private_ends_non_member_subscriptions() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let eve = s.user("eve").await;
    let room = alice.create_room("open", "public").await;
    let mut ws = s.ws(&eve).await;
    ws.subscribe(room).await;
    let (status, _) = alice
        .patch(
            &format!("/v1/rooms/{room}"),
            json!({"visibility": "private"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ended = ws.next_of("unsubscribed").await;
    assert_eq!(ended["reason"], "visibility_changed");
    alice.send(room, "1", "now private").await;
    ws.assert_no_events(std::time::Duration::from_millis(500))
        .await;
    let reply = ws
        .request(json!({"type": "subscribe", "room_id": room}))
        .await;
    assert_eq!(reply["error"]["code"], "not_found");
    s.finish().await;
}
