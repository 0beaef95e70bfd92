//! Content rules: a configured blocklist and the optional profanity filter refuse a message
//! before it reaches the log.

use natter_gateway::GatewayConfig;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn blocked_words_are_rejected_before_the_log() {
    let file = std::env::temp_dir().join(format!("natter-blocklist-{}.txt", uuid::Uuid::now_v7()));
    std::fs::write(
        &file,
        "# one per line\nfrobnicate\nbad phrase  # a phrase\n",
    )
    .expect("write");
    let config = GatewayConfig {
        moderation: natter_actions::moderation::ModerationConfig {
            blocked_words: vec!["Darn".into()],
            blocked_words_file: Some(file.clone()),
            profanity_filter: false,
        },
        ..natter_testkit::gateway_config()
    };
    let s = crate::Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let mut ws = s.ws(&alice).await;
    for (i, body) in ["well DARN it", "do not frobnicate!", "a Bad  phrase"]
        .iter()
        .enumerate()
    {
        let reply = ws
            .request(json!({"type": "send", "room_id": room, "client_msg_id": format!("x{i}"), "body": body}))
            .await;
        assert_eq!(
            reply["error"]["code"], "content_rejected",
            "{body}: {reply}"
        );
    }
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"client_msg_id": "r", "body": "darn"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("content_rejected"))
    );
    // Whole words only; and an edit is checked like a send.
    let seq = alice.send(room, "ok", "darned good, no frobnication").await;
    let id = natter_schemas::ids::message_id(alice.id(), "ok");
    let (status, _) = alice
        .patch(&format!("/v1/messages/{id}"), json!({"body": "darn"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, page) = alice
        .get(&format!("/v1/rooms/{room}/messages?min_seq={seq}"))
        .await;
    let bodies: Vec<&str> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().expect("body"))
        .collect();
    assert_eq!(
        bodies,
        ["darned good, no frobnication"],
        "nothing refused was stored"
    );
    std::fs::remove_file(file).ok();
    s.finish().await;
}

#[tokio::test]
async fn the_profanity_filter_can_be_switched_on() {
    let config = GatewayConfig {
        moderation: natter_actions::moderation::ModerationConfig {
            profanity_filter: true,
            ..Default::default()
        },
        ..natter_testkit::gateway_config()
    };
    let s = crate::Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"client_msg_id": "x", "body": "what the f u c k"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("content_rejected"))
    );
    alice.send(room, "ok", "an assassin's classic pass").await;
    s.finish().await;
}
