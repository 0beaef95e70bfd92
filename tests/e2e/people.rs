//! Finding people over the real surface: by the start of a username or of a word of a display
//! name, case and accents aside, exact matches first; profiles by id and by name; who can be
//! found under `NATTER_USER_DIRECTORY`; `PATCH /v1/me` refuses fields it does not know.

use natter_gateway::config::UserDirectory;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::Setup;

fn names(list: &Value) -> Vec<String> {
    list["users"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .filter_map(|u| u["username"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn people_are_found_by_name_prefix_case_and_accents_aside() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let bobby = s.user("bobby").await;
    let zoe = s.user("zoe_w").await;
    let (status, _) = zoe
        .patch("/v1/me", json!({"display_name": "Zoë Bobrowska"}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // "bob" exactly first, then the rest by username; a display name's word counts.
    let (status, found) = alice.get("/v1/users?q=BOB").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(names(&found), ["bob", "bobby", "zoe_w"]);
    let (_, accents) = alice.get("/v1/users?q=zoe%20bob").await;
    assert_eq!(names(&accents), ["zoe_w"], "{accents}");
    let (_, folded) = alice.get("/v1/users?q=Zo%C3%AB").await;
    assert_eq!(names(&folded), ["zoe_w"]);
    let (_, limited) = alice.get("/v1/users?q=b&limit=1").await;
    assert_eq!(names(&limited).len(), 1);
    let (status, reply) = alice.get("/v1/users?q=").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["field"], "q");

    // Profiles by id and by name (any case, with or without @).
    let (status, profile) = alice.get(&format!("/v1/users/{}", bobby.id())).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["username"], "bobby");
    assert!(profile.get("password_hash").is_none());
    let (_, by_name) = alice.get("/v1/users/by-name/@BOB").await;
    assert_eq!(by_name["id"], bob.id().to_string());
    let (status, _) = alice.get("/v1/users/by-name/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A field `PATCH /v1/me` does not know is refused, by name; nothing changes.
    let (status, reply) = alice
        .patch("/v1/me", json!({"display_name": "A", "avatar": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["code"], "invalid");
    assert_eq!(reply["error"]["field"], "avatar");
    let (_, me) = alice.get("/v1/me").await;
    assert_eq!(me["display_name"], "alice");
    s.finish().await;
}

#[tokio::test]
async fn a_directory_of_shared_rooms_finds_only_people_one_shares_a_room_with() {
    let mut config = natter_testkit::gateway_config();
    config.user_directory = UserDirectory::SharedRooms;
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let _bobby = s.user("bobby").await;
    let (_, found) = alice.get("/v1/users?q=bob").await;
    assert!(names(&found).is_empty(), "{found}");
    let (status, _) = alice.get(&format!("/v1/users/{}", bob.id())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, room) = alice.post("/v1/dms", json!({"user_ids": [bob.id()]})).await;
    assert!(status.is_success(), "{room}");
    let (_, found) = alice.get("/v1/users?q=bob").await;
    assert_eq!(names(&found), ["bob"]);
    let (_, me) = alice.get("/v1/users?q=ali").await;
    assert_eq!(names(&me), ["alice"]);
    s.finish().await;
}
