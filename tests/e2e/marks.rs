//! Reactions and pins: marks on messages, counted once per user and bounded per room.

use reqwest::StatusCode;
use serde_json::json;

use crate::Setup;
use crate::messages::{code, post};

#[tokio::test]
async fn reactions_count_once_per_user_and_emoji() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let outsider = s.user("eve").await;
    let room = alice.create_room("r", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let (id, _) = post(&alice, room, "c1", json!({"body": "react to me"})).await;
    let mut alice_ws = s.ws(&alice).await;
    alice_ws.subscribe(room).await;

    let mut bob_ws = s.ws(&bob).await;
    let reply = bob_ws
        .ok(json!({"type": "react", "message_id": id, "emoji": "👍", "on": true}))
        .await;
    assert_eq!(reply["changed"], true);
    let live = &alice_ws.events(1).await[0];
    assert_eq!(live["event"]["type"], "reaction.added");
    assert_eq!(live["event"]["actor_id"], bob.id().to_string());
    assert_eq!(live["event"]["data"]["emoji"], "👍");
    // The same reaction again: one per user per emoji.
    let reply = bob_ws
        .ok(json!({"type": "react", "message_id": id, "emoji": "👍", "on": true}))
        .await;
    assert_eq!(reply["changed"], false);
    let (status, body) = alice
        .put(&format!("/v1/messages/{id}/reactions/👍"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    alice
        .put(&format!("/v1/messages/{id}/reactions/:tada:"), json!({}))
        .await;

    let (_, message) = bob.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(
        message["reactions"],
        json!([{"emoji": "👍", "count": 2, "me": true}, {"emoji": ":tada:", "count": 1, "me": false}])
    );
    let (_, page) = alice.get(&format!("/v1/rooms/{room}/messages")).await;
    assert_eq!(
        page["messages"][0]["reactions"],
        json!([{"emoji": "👍", "count": 2, "me": true}, {"emoji": ":tada:", "count": 1, "me": true}])
    );

    // Removing: over REST; removing again changes nothing.
    let (_, reply) = bob.delete(&format!("/v1/messages/{id}/reactions/👍")).await;
    assert_eq!(reply["changed"], true);
    let (_, reply) = bob.delete(&format!("/v1/messages/{id}/reactions/👍")).await;
    assert_eq!(reply["changed"], false);
    let (_, message) = bob.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(
        message["reactions"][0],
        json!({"emoji": "👍", "count": 1, "me": false})
    );

    // Not an emoji; not a member.
    for bad in ["hello", "%3Cscript%3E", &"👍".repeat(10)] {
        let (status, body) = bob
            .put(&format!("/v1/messages/{id}/reactions/{bad}"), json!({}))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid"),
            "{bad}"
        );
    }
    let reply = bob_ws
        .request(json!({"type": "react", "message_id": id, "emoji": "not one", "on": true}))
        .await;
    assert_eq!(reply["error"]["code"], "invalid");
    let (status, _) = outsider
        .put(&format!("/v1/messages/{id}/reactions/👍"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "members react; a public room's reader is not one"
    );
    s.finish().await;
}

#[tokio::test]
async fn admins_pin_up_to_fifty_messages() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let outsider = s.user("eve").await;
    let room = alice.create_room("r", "private").await;
    alice
        .post(
            &format!("/v1/rooms/{room}/members"),
            json!({"user_id": bob.id()}),
        )
        .await;
    let mut ids = Vec::new();
    for i in 0..51 {
        ids.push(
            post(
                &alice,
                room,
                &format!("c{i}"),
                json!({"body": format!("m{i}")}),
            )
            .await
            .0,
        );
    }
    let mut bob_ws = s.ws(&bob).await;
    bob_ws.subscribe(room).await;

    // Members who are not admins may not pin.
    let (status, body) = bob
        .post(
            &format!("/v1/rooms/{room}/pins"),
            json!({"message_id": ids[0]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Outsiders cannot see the room at all.
    let (status, _) = outsider.get(&format!("/v1/rooms/{room}/pins")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, reply) = alice
        .post(
            &format!("/v1/rooms/{room}/pins"),
            json!({"message_id": ids[0]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["changed"], true);
    let live = &bob_ws.events(1).await[0];
    assert_eq!(live["event"]["type"], "message.pinned");
    let (_, again) = alice
        .post(
            &format!("/v1/rooms/{room}/pins"),
            json!({"message_id": ids[0]}),
        )
        .await;
    assert_eq!(again["changed"], false);
    for id in &ids[1..50] {
        let (status, body) = alice
            .post(&format!("/v1/rooms/{room}/pins"), json!({"message_id": id}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{room}/pins"),
            json!({"message_id": ids[50]}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "conflict"),
        "the 51st pin"
    );

    let (_, pins) = bob.get(&format!("/v1/rooms/{room}/pins")).await;
    let pins = pins["pins"].as_array().expect("pins");
    assert_eq!(pins.len(), 50);
    assert_eq!(
        pins[0]["message"]["id"],
        ids[49].to_string(),
        "newest pin first"
    );
    assert_eq!(pins[0]["pinned_by"], alice.id().to_string());

    let (status, reply) = alice
        .delete(&format!("/v1/rooms/{room}/pins/{}", ids[49]))
        .await;
    assert_eq!(
        (status, reply["changed"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, _) = alice
        .post(
            &format!("/v1/rooms/{room}/pins"),
            json!({"message_id": ids[50]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "room for one more after an unpin");
    let (status, _) = bob
        .delete(&format!("/v1/rooms/{room}/pins/{}", ids[0]))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    s.finish().await;
}
