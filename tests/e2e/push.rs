//! The push hook over the real surface, with a webhook receiver on loopback: direct messages
//! and mentions of people with no live socket are POSTed, signed, with an idempotency key, as
//! each person's notification settings say; a failing receiver is retried with the same key.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use natter_testkit::{Api, Natter, Role, TestEnv};
use serde_json::{Value, json};

const SECRET: &str = "a-push-secret-of-at-least-32-bytes!";

/// One call to the receiver: its headers and body.
type Call = (HeaderMap, Vec<u8>);

/// What the receiver was sent, in order.
#[derive(Clone, Default)]
struct Received {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Calls still to be refused with 500.
    refuse: Arc<Mutex<usize>>,
}

impl Received {
    fn bodies(&self) -> Vec<Value> {
        let calls = self.calls.lock().expect("calls");
        calls
            .iter()
            .filter_map(|(_, b)| serde_json::from_slice(b).ok())
            .collect()
    }
}

async fn receiver() -> (String, Received) {
    let received = Received::default();
    let state = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                state
                    .calls
                    .lock()
                    .expect("calls")
                    .push((headers, body.to_vec()));
                let mut refuse = state.refuse.lock().expect("refuse");
                if *refuse > 0 {
                    *refuse -= 1;
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                StatusCode::NO_CONTENT
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn notified(received: &Received, n: usize) -> Vec<Value> {
    natter_testkit::wait_until("notifications", Duration::from_secs(15), || async {
        let bodies = received.bodies();
        (bodies.len() >= n).then_some(bodies)
    })
    .await
}

#[tokio::test]
async fn people_not_connected_get_their_mentions_and_direct_messages_pushed() {
    let env = TestEnv::new().await;
    let (url, received) = receiver().await;
    let mut config = natter::UpConfig {
        gateway: natter_testkit::gateway_config(),
        ..natter::UpConfig::default()
    };
    config.previews.link_previews = false;
    config.push.push_webhook_url = url;
    config.push.push_webhook_secret = Some(SECRET.into());
    let natter = Natter::start_config(&env, Role::All, config).await;
    let user = |name: &'static str| Api::register(&natter.base, name);
    let (alice, bob, carol, dave) = (
        user("alice").await,
        user("bob").await,
        user("carol").await,
        user("dave").await,
    );
    let room = alice.create_room("team", "public").await;
    for u in [&bob, &carol, &dave] {
        let (status, _) = u.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
        assert!(status.is_success());
    }
    let (_, dm) = alice.post("/v1/dms", json!({"user_ids": [bob.id()]})).await;
    let dm: uuid::Uuid = dm["id"].as_str().and_then(|s| s.parse().ok()).expect("dm");
    let (status, _) = dave
        .patch("/v1/me/settings", json!({"notify": "none"}))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // Carol is connected; Bob and Dave are not.
    let _carol_socket = natter_testkit::Ws::connect(&natter.ws_url(), carol.token())
        .await
        .expect("ws");

    // The first call fails: it is retried with the same key.
    *received.refuse.lock().expect("refuse") = 1;
    alice.send(dm, "d1", "are you there, bob?").await;
    let calls = notified(&received, 2).await;
    assert_eq!(calls[0], calls[1], "a retry is the same notification");
    let direct = &calls[1];
    assert_eq!(direct["user_id"], json!(bob.id()));
    assert_eq!(direct["reason"], "direct");
    assert_eq!(direct["text"], "are you there, bob?");
    assert_eq!(direct["sender_name"], "alice");
    {
        let calls = received.calls.lock().expect("calls");
        let (headers, body) = &calls[1];
        let key = headers["idempotency-key"].to_str().expect("key");
        assert_eq!(key, direct["id"].as_str().expect("id"));
        let signature = headers["natter-signature"].to_str().expect("signature");
        let t: u64 = signature
            .strip_prefix("t=")
            .and_then(|s| s.split(',').next())
            .and_then(|t| t.parse().ok())
            .expect("a timestamp");
        assert_eq!(signature, natter_push::sign(SECRET.as_bytes(), t, body));
    }

    // A mention of all three reaches Bob only: Carol is connected, Dave wants nothing.
    alice
        .send(room, "r1", "@bob @carol @dave standup in 5")
        .await;
    let calls = notified(&received, 3).await;
    assert_eq!(calls[2]["user_id"], json!(bob.id()), "{calls:?}");
    assert_eq!(calls[2]["reason"], "mention");

    // A muted room reaches nobody; a plain message in a room neither.
    let (status, _) = bob
        .put(
            &format!("/v1/rooms/{room}/notifications"),
            json!({"muted": true}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    alice.send(room, "r2", "@bob once more").await;
    alice.send(room, "r3", "no one named").await;
    alice.send(dm, "d2", "and here?").await;
    let calls = notified(&received, 4).await;
    assert_eq!(calls[3]["text"], "and here?", "{calls:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.bodies().len(), 4, "{:?}", received.bodies());
    natter.stop().await;
    env.cleanup().await;
}
