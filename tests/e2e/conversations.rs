//! The conversation list (`GET /v1/rooms`): most recently active first, each room with its
//! last message, each direct conversation with its other members, paged with a cursor.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Setup;

fn rooms(list: &Value) -> Vec<Value> {
    list["rooms"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_conversation_list_shows_last_messages_and_who_a_dm_is_with() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let (status, _) = bob.patch("/v1/me", json!({"display_name": "Bob B."})).await;
    assert_eq!(status, StatusCode::OK);
    let team = alice.create_room("team", "public").await;
    let quiet = alice.create_room("quiet", "public").await;
    let (_, dm) = alice.post("/v1/dms", json!({"user_ids": [bob.id()]})).await;
    let dm: Uuid = dm["id"].as_str().and_then(|s| s.parse().ok()).expect("dm");
    alice.send(team, "t1", "first in team").await;
    bob.send(dm, "d1", "hi alice").await;
    let last = alice.send(team, "t2", "second in team").await;

    let (status, list) = alice.get(&format!("/v1/rooms?min_seq={last}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let all = rooms(&list);
    let ids: Vec<&str> = all
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, [team.to_string(), dm.to_string(), quiet.to_string()]);
    assert_eq!(all[0]["last_message"]["body"], "second in team");
    assert_eq!(all[1]["last_message"]["body"], "hi alice");
    assert_eq!(
        all[1]["members"],
        json!([{"user_id": bob.id(), "display_name": "Bob B."}])
    );
    assert!(all[2]["last_message"].is_null());
    assert!(all[0].get("members").is_none());
    assert!(list.get("next_cursor").is_none());

    // A deleted last message gives way to the one before.
    let id = all[0]["last_message"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, reply) = alice.delete(&format!("/v1/messages/{id}")).await;
    let deleted = reply["seq"].as_u64().expect("seq");
    let (_, list) = alice
        .get(&format!("/v1/rooms?min_seq={deleted}&limit=1"))
        .await;
    let page = rooms(&list);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["last_message"]["body"], "first in team");

    // Pages follow the cursor, each room once, until none is left.
    let mut seen = vec![page[0]["id"].clone()];
    let mut cursor = list["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (status, next) = alice.get(&format!("/v1/rooms?limit=1&cursor={c}")).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        seen.extend(rooms(&next).into_iter().map(|r| r["id"].clone()));
        cursor = next["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    let (status, reply) = alice.get("/v1/rooms?cursor=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["field"], "cursor");
    s.finish().await;
}
