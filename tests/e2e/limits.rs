//! Rate limits: cluster-wide in Redis, per user and action; refused sends are never stored or
//! delivered, accepted ones always are; without Redis each gateway limits locally.

use std::time::Duration;

use natter_actions::ratelimit::RateLimits;
use natter_gateway::GatewayConfig;
use natter_testkit::{Api, Natter, Role, TestEnv, Ws, wait_until};
use reqwest::StatusCode;
use serde_json::json;

fn limited(messages: &str) -> GatewayConfig {
    GatewayConfig {
        rate: RateLimits {
            rate_messages: messages.parse().expect("rate"),
            rate_auth_user: "3/1m".parse().expect("rate"),
            rate_typing: "3/10s".parse().expect("rate"),
            ..RateLimits::off()
        },
        ..natter_testkit::gateway_config()
    }
}

/// Sends `n` messages pipelined on `ws`; returns (accepted seqs, refusals' retry_after_ms).
async fn burst(ws: &mut Ws, room: uuid::Uuid, tag: &str, n: usize) -> (Vec<u64>, Vec<u64>) {
    for i in 0..n {
        ws.send_json(json!({"type": "send", "id": i, "room_id": room,
                            "client_msg_id": format!("{tag}{i}"), "body": format!("{tag} {i}")}))
            .await;
    }
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let reply = ws.next_of("reply").await;
        if reply["ok"] == true {
            accepted.push(reply["data"]["seq"].as_u64().expect("seq"));
        } else {
            assert_eq!(reply["error"]["code"], "rate_limited", "{reply}");
            let wait = reply["error"]["retry_after_ms"]
                .as_u64()
                .expect("retry_after_ms");
            assert!(wait > 0 && wait <= 10_000, "{reply}");
            refused.push(wait);
        }
    }
    accepted.sort_unstable();
    (accepted, refused)
}

#[tokio::test]
async fn sends_over_the_rate_are_refused_and_never_stored() {
    let s = crate::Setup::with_gateway(limited("5/10s")).await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let room = alice.create_room("r", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let mut reader = s.ws(&bob).await;
    reader.subscribe(room).await;

    let mut ws = s.ws(&alice).await;
    let (accepted, refused) = burst(&mut ws, room, "w", 12).await;
    assert_eq!(
        (accepted.len(), refused.len()),
        (5, 7),
        "a burst of 5, then refusals"
    );
    // Over REST: 429 with Retry-After.
    let res = reqwest::Client::new()
        .post(format!("{}/v1/rooms/{room}/messages", s.natter.base))
        .bearer_auth(alice.token())
        .json(&json!({"client_msg_id": "rest", "body": "one more"}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=10).contains(&retry_after));
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Typing frames have a budget of their own.
    for i in 0..4 {
        let reply = ws
            .request(json!({"type": "typing", "room_id": room, "state": if i % 2 == 0 { "start" } else { "stop" }}))
            .await;
        let code = reply["error"]["code"].as_str().map(str::to_owned);
        assert_eq!(
            code.as_deref(),
            if i < 3 { None } else { Some("rate_limited") },
            "{reply}"
        );
    }
    // Another user has a budget of their own.
    bob.send(room, "b1", "bob's").await;

    // Exactly the accepted messages were delivered and stored, each once.
    let delivered = reader.event_seqs(accepted.len() + 1).await;
    assert_eq!(&delivered[..accepted.len()], accepted.as_slice());
    reader.assert_no_events(Duration::from_millis(300)).await;
    let (_, page) = alice
        .get(&format!(
            "/v1/rooms/{room}/messages?min_seq={}",
            delivered[accepted.len()]
        ))
        .await;
    let stored: Vec<u64> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["sender_id"] == alice.id().to_string())
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(stored, accepted);

    // After the advertised wait, sending works again.
    tokio::time::sleep(Duration::from_millis(
        refused.iter().copied().min().unwrap_or(0) + 50,
    ))
    .await;
    let reply = ws
        .request(
            json!({"type": "send", "room_id": room, "client_msg_id": "later", "body": "later"}),
        )
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    s.finish().await;
}

#[tokio::test]
async fn logins_are_limited_per_username() {
    let s = crate::Setup::with_gateway(limited("off")).await;
    s.user("alice").await;
    let anon = Api::anonymous(&s.natter.base);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, _) = anon
            .post(
                "/v1/auth/login",
                json!({"username": "Alice", "password": "wrong-password"}),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    s.finish().await;
}

/// Two gateways share one budget per user.
#[tokio::test]
async fn limits_hold_across_gateways() {
    let env = TestEnv::new().await;
    let a = Natter::start_role(&env, Role::Gateway, limited("4/10s")).await;
    let b = Natter::start_role(&env, Role::Gateway, limited("4/10s")).await;
    let projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let alice = Api::register(&a.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    let mut on_a = Ws::connect(&a.ws_url(), alice.token()).await.expect("ws");
    let mut on_b = Ws::connect(&b.ws_url(), alice.token()).await.expect("ws");
    let (first, _) = burst(&mut on_a, room, "a", 3).await;
    let (second, refused) = burst(&mut on_b, room, "b", 3).await;
    assert_eq!((first.len(), second.len(), refused.len()), (3, 1, 2));
    for n in [a, b, projector] {
        n.stop().await;
    }
    env.cleanup().await;
}

/// A Redis of this test's own, so that it can be stopped.
struct PrivateRedis {
    child: tokio::process::Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server");
        let url = format!("redis://127.0.0.1:{port}");
        wait_until("the private Redis", Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(drop)
        })
        .await;
        Self { child, url }
    }
}

#[tokio::test]
async fn without_redis_each_gateway_limits_locally_and_says_so() {
    let mut redis = PrivateRedis::start().await;
    let mut env = TestEnv::new().await;
    env.conn.redis_url = redis.url.clone();
    let natter = Natter::start_role(&env, Role::All, limited("4/10s")).await;
    let alice = Api::register(&natter.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    let mut ws = Ws::connect(&natter.ws_url(), alice.token())
        .await
        .expect("ws");
    let (accepted, _) = burst(&mut ws, room, "r", 2).await;
    assert_eq!(accepted.len(), 2, "Redis counts the first two");

    redis.child.kill().await.expect("stop redis");
    let (accepted, refused) = burst(&mut ws, room, "l", 7).await;
    assert_eq!(
        (accepted.len(), refused.len()),
        (4, 3),
        "the local limiter starts afresh: a burst of 4, then refusals"
    );
    let metrics = reqwest::get(format!("{}/metrics", natter.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("natter_rate_limit_redis_up 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("natter_rate_limit_local_total"),
        "{metrics}"
    );
    // Every accepted message is stored.
    let (_, page) = alice
        .get(&format!(
            "/v1/rooms/{room}/messages?min_seq={}",
            accepted[3]
        ))
        .await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(6));
    // Chat goes on without Redis: a new socket connects and is delivered messages, typing
    // passes (it never touches Redis), presence answers `unavailable` (it lives in Redis).
    let mut other = Ws::connect(&natter.ws_url(), alice.token())
        .await
        .expect("a socket connects without Redis");
    other.subscribe(room).await;
    let bob = Api::register(&natter.base, "bob").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let mut bobs = Ws::connect(&natter.ws_url(), bob.token())
        .await
        .expect("ws");
    bobs.subscribe(room).await;
    bobs.ok(json!({"type": "typing", "room_id": room, "state": "start"}))
        .await;
    let typing = other.next_of("typing").await;
    assert_eq!(typing["user_id"], json!(bob.id()), "{typing}");
    bobs.send_message(room, "b1", "without redis").await;
    let event = other.next_of("event").await;
    assert_eq!(event["event"]["data"]["body"], "without redis", "{event}");
    let reply = other
        .request(json!({"type": "presence", "status": "away"}))
        .await;
    assert_eq!(reply["error"]["code"], "unavailable", "{reply}");
    // Still ready (a load balancer keeps it): sends work; it says it is degraded.
    let (status, ready) = Api::anonymous(&natter.base).get("/readyz").await;
    assert_eq!(status.as_u16(), 200, "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_ne!(ready["checks"]["redis"], "ok", "{ready}");
    assert_eq!(ready["checks"]["log"], "ok", "{ready}");
    natter.stop().await;
    env.cleanup().await;
}
