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

/// A muted member reads and deletes their own messages but does not edit, react or type; an
/// archived room takes no changes at all: no messages, reactions, typing, roles, moderation.
#[tokio::test]
async fn muted_members_and_archived_rooms_change_nothing() {
    let s = crate::Setup::new().await;
    let owner = s.user("owner").await;
    let bob = s.user("bobby").await;
    let carol = s.user("carol").await;
    let room = owner.create_room("r", "public").await;
    for user in [&bob, &carol] {
        user.post(&format!("/v1/rooms/{room}/join"), json!({}))
            .await;
    }
    bob.send(room, "b1", "first").await;
    bob.send(room, "b2", "second").await;
    let messages = crate::wait_history(&bob, room, 2).await;
    let (first, second) = (
        messages[0]["id"].as_str().expect("id").to_owned(),
        messages[1]["id"].as_str().expect("id").to_owned(),
    );
    let (status, body) = owner
        .put(
            &format!("/v1/rooms/{room}/members/{}/mute", bob.id()),
            json!({"minutes": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = bob
        .patch(&format!("/v1/messages/{first}"), json!({"body": "edited"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bob
        .put(&format!("/v1/messages/{first}/reactions/👍"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut ws = s.ws(&bob).await;
    let reply = ws
        .request(json!({"type": "typing", "room_id": room, "state": "start"}))
        .await;
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    let (status, _) = bob.delete(&format!("/v1/messages/{second}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a muted member deletes their own message"
    );

    let (status, _) = owner.delete(&format!("/v1/rooms/{room}")).await;
    assert_eq!(status, StatusCode::OK);
    let member = |path: &str| format!("/v1/rooms/{room}/members/{}{path}", carol.id());
    let refused = [
        owner.put(&member("/role"), json!({"role": "admin"})).await,
        owner.put(&member("/mute"), json!({"minutes": 5})).await,
        owner.delete(&member("")).await,
        owner
            .put(&format!("/v1/rooms/{room}/bans/{}", carol.id()), json!({}))
            .await,
        carol
            .put(&format!("/v1/messages/{first}/reactions/👍"), json!({}))
            .await,
        carol
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"body": "x", "client_msg_id": "c1"}),
            )
            .await,
    ];
    for (i, (status, body)) in refused.iter().enumerate() {
        assert_eq!(*status, StatusCode::FORBIDDEN, "{i}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{i}: {body}");
    }
    let mut ws = s.ws(&carol).await;
    let reply = ws
        .request(json!({"type": "typing", "room_id": room, "state": "start"}))
        .await;
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    // Reading and leaving still work.
    let (status, _) = carol.get(&format!("/v1/rooms/{room}/messages")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = carol
        .post(&format!("/v1/rooms/{room}/leave"), json!({}))
        .await;
    assert!(status.is_success(), "{status} {body}");
    s.finish().await;
}

/// A mute outlives leaving: a muted member who leaves and joins again is still muted.
#[tokio::test]
async fn a_mute_survives_leaving_and_joining_again() {
    let s = crate::Setup::new().await;
    let owner = s.user("owner").await;
    let bob = s.user("bobby").await;
    let room = owner.create_room("r", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let (status, muted) = owner
        .put(
            &format!("/v1/rooms/{room}/members/{}/mute", bob.id()),
            json!({"minutes": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{muted}");
    let (status, _) = bob
        .post(&format!("/v1/rooms/{room}/leave"), json!({}))
        .await;
    assert!(status.is_success());
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = bob
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "escaped?", "client_msg_id": "e1"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, members) = owner.get(&format!("/v1/rooms/{room}/members")).await;
    let me = members["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["user_id"] == json!(bob.id())))
        .cloned()
        .expect("bob is a member");
    assert_eq!(me["muted_until"], muted["muted_until"], "{members}");
    // Lifted, it stays lifted through another leave and join.
    let (status, _) = owner
        .delete(&format!("/v1/rooms/{room}/members/{}/mute", bob.id()))
        .await;
    assert!(status.is_success());
    bob.post(&format!("/v1/rooms/{room}/leave"), json!({}))
        .await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let (status, body) = bob
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "free", "client_msg_id": "e2"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.finish().await;
}
