//! Room moderation: timed mutes, bans that keep a user out of a public room, and who may do it.

use reqwest::StatusCode;
use serde_json::json;

use crate::Setup;

#[tokio::test]
async fn moderators_mute_and_ban_and_the_rules_hold() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let carol = s.user("carol").await;
    let room = alice.create_room("r", "public").await;
    for u in [&bob, &carol] {
        u.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    }
    alice
        .put(
            &format!("/v1/rooms/{room}/members/{}/role", carol.id()),
            json!({"role": "admin"}),
        )
        .await;

    // Members do not moderate; admins do not moderate owners.
    let (status, _) = bob
        .put(
            &format!("/v1/rooms/{room}/members/{}/mute", carol.id()),
            json!({"minutes": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = carol
        .put(&format!("/v1/rooms/{room}/bans/{}", alice.id()), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A mute: the member is told, cannot send, and can again once unmuted.
    let mut bob_ws = s.ws(&bob).await;
    bob_ws.subscribe(room).await;
    let (status, member) = carol
        .put(
            &format!("/v1/rooms/{room}/members/{}/mute", bob.id()),
            json!({"minutes": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert!(member["muted_until"].is_string(), "{member}");
    let notice = bob_ws.next_of("notice").await;
    assert_eq!(notice["event"]["type"], "member.muted");
    let reply = bob_ws
        .request(json!({"type": "send", "room_id": room, "client_msg_id": "m1", "body": "hello?"}))
        .await;
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    let (status, _) = bob
        .delete(&format!("/v1/rooms/{room}/members/{}/mute", bob.id()))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "members do not unmute themselves"
    );
    let (status, _) = carol
        .put(
            &format!("/v1/rooms/{room}/members/{}/mute", bob.id()),
            json!({"minutes": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "minutes out of range");
    let (status, _) = carol
        .delete(&format!("/v1/rooms/{room}/members/{}/mute", bob.id()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    bob.send(room, "m2", "back").await;

    // A ban: removed at once (the socket's subscription ends), cannot rejoin or be invited.
    let (status, _) = alice
        .put(&format!("/v1/rooms/{room}/bans/{}", bob.id()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ended = bob_ws.next_of("unsubscribed").await;
    assert_eq!(ended["reason"], "banned");
    let (status, body) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = carol
        .post(
            &format!("/v1/rooms/{room}/members"),
            json!({"user_id": bob.id()}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, bans) = carol.get(&format!("/v1/rooms/{room}/bans")).await;
    assert_eq!(bans["bans"][0]["user_id"], bob.id().to_string());
    let (status, _) = bob.get(&format!("/v1/rooms/{room}/bans")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Lifted: they may join again.
    let (status, _) = alice
        .delete(&format!("/v1/rooms/{room}/bans/{}", bob.id()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    s.finish().await;
}
