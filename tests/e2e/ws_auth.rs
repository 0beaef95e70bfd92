//! Browsers cannot set `Authorization` on a WebSocket, and `?token=` ends up in access logs: a
//! socket opened without a token signs in with its first frame, `auth`. Anything else first, a
//! bad token, or silence closes it with 4001 and a reason; a user with every socket they may
//! have is closed with 4029.

use std::time::Duration;

use natter_testkit::Ws;
use serde_json::json;

use crate::Setup;

#[tokio::test]
async fn a_socket_signs_in_with_its_first_frame() {
    let mut config = natter_testkit::gateway_config();
    config.ws_auth_timeout_ms = 300;
    config.max_connections_per_user = 2;
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let room = alice.create_room("r", "public").await;
    let url = s.natter.ws_url();

    // Signed in by its first frame, the socket is like any other.
    let mut socket = Ws::connect_bare(&url).await.expect("connect");
    let reply = socket.sign_in(alice.token()).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert!(reply["data"]["expires_at"].as_u64().is_some(), "{reply}");
    assert_eq!(
        socket.hello["user_id"],
        json!(alice.id()),
        "{}",
        socket.hello
    );
    socket.subscribe(room).await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert!(status.is_success());
    bob.send(room, "b1", "hello over a browser's socket").await;
    let event = loop {
        let event = socket.next_of("event").await;
        if event["event"]["type"] == "message.posted" {
            break event;
        }
    };
    assert_eq!(
        event["event"]["data"]["body"],
        "hello over a browser's socket"
    );

    // Refused, each with 4001 and a reason: another frame first, a bad token, silence, and
    // the token of a session that has ended.
    let mut first = Ws::connect_bare(&url).await.expect("connect");
    first
        .send_json(json!({"type": "subscribe", "room_id": room}))
        .await;
    let closed = first.closed().await;
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    assert!(closed.reason.contains("first frame"), "{closed:?}");

    let mut bad = Ws::connect_bare(&url).await.expect("connect");
    bad.send_json(json!({"type": "auth", "token": "not-a-token"}))
        .await;
    let closed = bad.closed().await;
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    assert!(!closed.reason.is_empty(), "{closed:?}");

    let mut silent = Ws::connect_bare(&url).await.expect("connect");
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.closed())
        .await
        .expect("closed in time");
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    assert!(closed.reason.contains("in time"), "{closed:?}");

    let (_, login) = natter_testkit::Api::anonymous(&s.natter.base)
        .post(
            "/v1/auth/login",
            json!({"username": "bob", "password": "password123"}),
        )
        .await;
    let ended = login["token"].as_str().expect("token").to_owned();
    let (status, _) = natter_testkit::Api::anonymous(&s.natter.base)
        .with_token(Some(ended.clone()))
        .post("/v1/auth/logout", json!({}))
        .await;
    assert!(status.is_success());
    let mut late = Ws::connect_bare(&url).await.expect("connect");
    late.send_json(json!({"type": "auth", "token": ended}))
        .await;
    let closed = late.closed().await;
    assert_eq!(closed.code, Some(4001), "{closed:?}");

    // A user who holds every socket they may is told so, with 4029.
    let _second = s.ws(&alice).await;
    let mut third = Ws::connect_bare(&url).await.expect("connect");
    third
        .send_json(json!({"type": "auth", "token": alice.token()}))
        .await;
    let closed = third.closed().await;
    assert_eq!(closed.code, Some(4029), "{closed:?}");
    assert!(closed.reason.contains("connections"), "{closed:?}");
    // Asked with an id, it gets no `ok` first: the close is the only answer.
    let mut fourth = Ws::connect_bare(&url).await.expect("connect");
    fourth
        .send_json(json!({"type": "auth", "token": alice.token(), "id": 9}))
        .await;
    assert_eq!(fourth.next_any().await, None, "no reply before the close");
    // An id of the wrong shape is refused as on any frame.
    let mut odd = Ws::connect_bare(&url).await.expect("connect");
    odd.send_json(json!({"type": "auth", "token": alice.token(), "id": {"x": 1}}))
        .await;
    let closed = odd.closed().await;
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    s.env.cleanup().await;
}
