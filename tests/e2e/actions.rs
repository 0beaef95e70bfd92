//! The chat actions called directly, with no gateway in between: REST and WebSocket are only
//! ways in. A projector runs (the actions wait for the read models they answer from).

use std::sync::Arc;

use natter_actions::commands;
use natter_actions::{Actions, Connections};
use natter_schemas::ErrorCode;
use natter_schemas::rest::{CreateRoomRequest, SendMessageRequest};
use natter_testkit::{Natter, Role, TestEnv};

async fn actions(env: &TestEnv) -> Actions {
    let (bus, vault) = natter::open_log_and_keys(
        &env.conn,
        &natter::StreamArgs::default(),
        "natter-actions-test",
    )
    .await
    .expect("the log");
    let redis = redis::Client::open(env.conn.redis_url.as_str())
        .expect("redis url")
        .get_connection_manager()
        .await
        .expect("redis");
    let connections = Connections {
        bus,
        pool: env.pool().await,
        redis,
        vault,
    };
    // The settings a gateway of the test kit would have (rate limits off).
    let settings = natter_testkit::gateway_config().actions_settings();
    let (actions, checkpoints) = Actions::start(
        connections,
        settings,
        Arc::new(natter_schemas::files::PlainUrls),
    )
    .await
    .expect("the actions");
    tokio::spawn(async move { checkpoints.run(natter_common::Shutdown::new()).await });
    actions
}

fn room(name: &str) -> CreateRoomRequest {
    serde_json::from_value(serde_json::json!({"name": name, "visibility": "public"}))
        .expect("a room")
}

fn message(body: &str, client_msg_id: &str) -> SendMessageRequest {
    serde_json::from_value(serde_json::json!({"body": body, "client_msg_id": client_msg_id}))
        .expect("a message")
}

/// Registering, creating a room, sending, a retried send and a refused one: each answered as
/// REST and WebSocket answer it, from the actions alone.
#[tokio::test]
async fn the_actions_run_without_a_gateway() {
    let env = TestEnv::new().await;
    let projector = Natter::start_role(
        &env,
        Role::Projector,
        natter_gateway::GatewayConfig::default(),
    )
    .await;
    let actions = actions(&env).await;

    let ana = commands::register(&actions, ("ana", "correct horse battery"), None, None)
        .await
        .expect("ana registers");
    let bob = commands::register(&actions, ("bob", "correct horse battery"), None, None)
        .await
        .expect("bob registers");
    let taken = commands::register(&actions, ("ana", "another password!"), None, None).await;
    assert_eq!(
        taken.expect_err("a taken name").code(),
        ErrorCode::Conflict,
        "a second ana"
    );

    let lobby = commands::create_room(&actions, ana.user.id, &room("lobby"))
        .await
        .expect("ana creates a room");
    let sent = commands::send_message(&actions, ana.user.id, lobby.id, &message("hi", "m1"))
        .await
        .expect("ana sends");
    assert!(!sent.duplicate);
    let again = commands::send_message(&actions, ana.user.id, lobby.id, &message("hi", "m1"))
        .await
        .expect("ana's retry");
    assert!(again.duplicate, "a retry is answered with the original");
    assert_eq!((again.message_id, again.seq), (sent.message_id, sent.seq));

    // Bob is not a member: the room is public, but posting needs joining first.
    let refused = commands::send_message(&actions, bob.user.id, lobby.id, &message("yo", "b1"))
        .await
        .expect_err("bob is not a member");
    assert!(
        matches!(refused.code(), ErrorCode::Forbidden | ErrorCode::NotFound),
        "{refused:?}"
    );
    commands::join(&actions, bob.user.id, lobby.id)
        .await
        .expect("bob joins");
    commands::send_message(&actions, bob.user.id, lobby.id, &message("yo", "b1"))
        .await
        .expect("bob sends once a member");

    projector.stop().await;
    env.cleanup().await;
}
