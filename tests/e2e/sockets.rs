//! A socket's bounds: its token (refreshed with an `auth` frame, or the socket closes at
//! expiry), sockets per user, subscriptions per socket, and allowed origins.

use std::time::Duration;

use natter_gateway::GatewayConfig;
use natter_testkit::Ws;
use reqwest::StatusCode;
use serde_json::json;

/// A socket whose token expires closes with 4001, unless the client sends a fresh token first.
#[tokio::test]
async fn sockets_stay_open_with_a_fresh_token_and_close_without() {
    let config = GatewayConfig {
        token_ttl_secs: 2,
        ..natter_testkit::gateway_config()
    };
    let s = crate::Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let mut stale = s.ws(&alice).await;
    let mut fresh = s.ws(&alice).await;
    let long = natter_actions::auth::Tokens::new(
        natter_gateway::config::DEV_JWT_SECRET.as_bytes(),
        Duration::from_secs(600),
    );
    let reply = fresh
        .ok(json!({"type": "auth", "token": long.issue(alice.id(), uuid::Uuid::now_v7()).expect("token")}))
        .await;
    assert!(
        reply["expires_at"].as_u64().expect("expires_at") > natter_actions::auth::now_secs() + 500
    );
    // Someone else's token, or no token at all, is refused and changes nothing.
    let reply = fresh
        .request(json!({"type": "auth", "token": long.issue(bob.id(), uuid::Uuid::now_v7()).expect("token")}))
        .await;
    assert_eq!(reply["error"]["code"], "forbidden");
    let reply = fresh
        .request(json!({"type": "auth", "token": "nope"}))
        .await;
    assert_eq!(reply["error"]["code"], "unauthorized");

    let closed = stale.closed().await;
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    // The refreshed socket outlives the first token.
    fresh.ok(json!({"type": "ping"})).await;
    s.finish().await;
}

#[tokio::test]
async fn connections_subscriptions_and_origins_are_bounded() {
    let config = GatewayConfig {
        max_connections_per_user: 2,
        max_subscriptions: 2,
        allowed_origins: vec!["https://chat.example".into()],
        ..natter_testkit::gateway_config()
    };
    let s = crate::Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let rooms = [
        alice.create_room("a", "public").await,
        alice.create_room("b", "public").await,
        alice.create_room("c", "public").await,
    ];

    // Subscriptions per socket.
    let mut ws = s.ws(&alice).await;
    ws.subscribe(rooms[0]).await;
    ws.subscribe(rooms[1]).await;
    ws.subscribe(rooms[1]).await; // again: not a new one
    let reply = ws
        .request(json!({"type": "subscribe", "room_id": rooms[2]}))
        .await;
    assert_eq!(reply["error"]["code"], "invalid", "{reply}");
    ws.ok(json!({"type": "unsubscribe", "room_id": rooms[0]}))
        .await;
    ws.subscribe(rooms[2]).await;

    // Connections per user (per gateway): the third is refused at the handshake.
    let _second = s.ws(&alice).await;
    let third = Ws::connect(&s.natter.ws_url(), alice.token()).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        other => panic!(
            "a third socket must be refused: {:?}",
            other.map(|w| w.hello)
        ),
    }
    drop(_second);

    // Origins: a listed one and none at all pass; another site's page does not.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let bob = s.user("bobby").await;
    for (origin, ok) in [
        (Some("https://evil.example"), false),
        (Some("https://chat.example"), true),
        (None, true),
    ] {
        let mut request = format!("{}?token={}", s.natter.ws_url(), bob.token())
            .into_client_request()
            .expect("request");
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().expect("header"));
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok(_) => assert!(ok, "{origin:?} must be refused"),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert!(!ok, "{origin:?} must pass");
                assert_eq!(res.status(), StatusCode::FORBIDDEN);
            }
            Err(e) => panic!("{e}"),
        }
    }
    s.finish().await;
}
