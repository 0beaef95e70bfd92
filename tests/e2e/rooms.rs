use reqwest::StatusCode;
use serde_json::json;

use crate::Setup;

#[tokio::test]
async fn rooms_membership_and_roles() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;

    let (status, room) = alice
        .post(
            "/v1/rooms",
            json!({"name": "general", "visibility": "public", "topic": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(room["my_role"], "owner");
    assert_eq!(room["member_count"], 1);
    let id = room["id"].as_str().expect("id").to_owned();

    // Public: visible to and joinable by anyone; joining twice is fine.
    let (status, _) = bob.get(&format!("/v1/rooms/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, public) = bob.get("/v1/rooms?scope=public").await;
    assert!(
        public["rooms"]
            .as_array()
            .expect("rooms")
            .iter()
            .any(|r| r["id"] == json!(id))
    );
    for _ in 0..2 {
        let (status, joined) = bob.post(&format!("/v1/rooms/{id}/join"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{joined}");
        assert_eq!(joined["my_role"], "member");
        assert_eq!(joined["member_count"], 2);
    }
    let (_, mine) = bob.get("/v1/rooms").await;
    assert_eq!(mine["rooms"].as_array().expect("rooms").len(), 1);

    // Only admins change the room; only owners change roles.
    let (status, _) = bob
        .patch(&format!("/v1/rooms/{id}"), json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bob
        .put(
            &format!("/v1/rooms/{id}/members/{}/role", bob.id()),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, member) = alice
        .put(
            &format!("/v1/rooms/{id}/members/{}/role", bob.id()),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert_eq!(member["role"], "admin");
    let (status, updated) = bob
        .patch(
            &format!("/v1/rooms/{id}"),
            json!({"name": "general-2", "topic": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "general-2");
    assert_eq!(updated["topic"], json!(null));

    // The last owner cannot step down or leave while others remain.
    let (status, _) = alice
        .put(
            &format!("/v1/rooms/{id}/members/{}/role", alice.id()),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = alice
        .post(&format!("/v1/rooms/{id}/leave"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Invite, kick (an admin cannot kick the owner), leave.
    let (status, added) = bob
        .post(
            &format!("/v1/rooms/{id}/members"),
            json!({"user_id": carol.id()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let (status, _) = bob
        .delete(&format!("/v1/rooms/{id}/members/{}", alice.id()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bob
        .delete(&format!("/v1/rooms/{id}/members/{}", carol.id()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, members) = alice.get(&format!("/v1/rooms/{id}/members")).await;
    let ids: Vec<_> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["user_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(alice.id()), json!(bob.id())]);
    let (status, _) = bob.post(&format!("/v1/rooms/{id}/leave"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = bob.post(&format!("/v1/rooms/{id}/leave"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Archive: no more sends or joins.
    let (status, archived) = alice.delete(&format!("/v1/rooms/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(archived["archived"], true);
    let (status, _) = alice
        .post(
            &format!("/v1/rooms/{id}/messages"),
            json!({"body": "hi", "client_msg_id": "a"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = carol.post(&format!("/v1/rooms/{id}/join"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Malformed ids and unknown rooms.
    let (status, body) = alice.get("/v1/rooms/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    let (status, _) = alice
        .get(&format!("/v1/rooms/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.finish().await;
}

#[tokio::test]
async fn one_dm_per_set_of_users_even_when_opened_concurrently() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;

    // Both open the same DM at once, several times: one room.
    let mut calls = Vec::new();
    for i in 0..6 {
        let (me, other) = if i % 2 == 0 {
            (alice.clone(), bob.id())
        } else {
            (bob.clone(), alice.id())
        };
        calls.push(tokio::spawn(async move {
            me.post("/v1/dms", json!({"user_ids": [other]})).await
        }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for call in calls {
        let (status, room) = call.await.expect("task");
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status} {room}"
        );
        if status == StatusCode::CREATED {
            created += 1;
        }
        assert_eq!(room["kind"], "dm");
        ids.push(room["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(created, 1);

    // Another set is another room; a DM's members are fixed.
    let (_, group) = alice
        .post("/v1/dms", json!({"user_ids": [bob.id(), carol.id()]}))
        .await;
    assert_ne!(group["id"], ids[0]);
    let room = ids[0].as_str().expect("id");
    let (status, _) = alice
        .post(
            &format!("/v1/rooms/{room}/members"),
            json!({"user_id": carol.id()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = alice
        .post("/v1/dms", json!({"user_ids": [alice.id()]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = alice
        .post("/v1/dms", json!({"user_ids": [uuid::Uuid::now_v7()]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    s.finish().await;
}
