use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::Setup;
use natter_testkit::{Api, Ws};

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn token_with(secret: &str, sub: uuid::Uuid, exp: i64) -> String {
    let claims = json!({"sub": sub, "exp": exp, "iat": exp - 10});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

#[tokio::test]
async fn register_login_and_bad_tokens() {
    let s = Setup::new().await;
    let anon = Api::anonymous(&s.natter.base);
    let alice = s.user("alice").await;

    // Usernames are unique, case-insensitively.
    let (status, body) = anon
        .post(
            "/v1/auth/register",
            json!({"username": "ALICE", "password": "password123"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");

    // Bad input is `invalid` with the field.
    let (status, body) = anon
        .post(
            "/v1/auth/register",
            json!({"username": "x", "password": "password123"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "username");
    let (status, _) = anon
        .post("/v1/auth/register", json!({"username": "bob"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Login.
    let (status, body) = anon
        .post(
            "/v1/auth/login",
            json!({"username": "alice", "password": "password123"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], json!(alice.id()));
    let (status, body) = anon
        .post(
            "/v1/auth/login",
            json!({"username": "alice", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");

    // The token works; me.
    let (status, me) = alice.get("/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "alice");
    let (status, me) = alice
        .patch("/v1/me", json!({"display_name": "Alice A."}))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["display_name"], "Alice A.");

    // No token, garbage, alg none, wrong signature, expired: 401 with the error shape.
    let now = chrono::Utc::now().timestamp();
    let none_token = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(json!({"sub": alice.id(), "exp": now + 3600})
            .to_string()
            .as_bytes())
    );
    let secret = natter_gateway::config::DEV_JWT_SECRET;
    let bad_tokens = [
        None,
        Some("garbage".to_owned()),
        Some(none_token),
        Some(token_with("another-secret", alice.id(), now + 3600)),
        Some(token_with(secret, alice.id(), now - 60)),
    ];
    for token in bad_tokens {
        let client = alice.with_token(token.clone());
        let (status, body) = client.get("/v1/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        if let Some(token) = token {
            let err = Ws::connect(&s.natter.ws_url(), &token)
                .await
                .err()
                .expect("refused");
            assert!(err.to_string().contains("401"), "{err}");
        }
    }

    // `?token=` works on the socket.
    let ws = Ws::connect_query(&s.natter.ws_url(), alice.token())
        .await
        .expect("query token");
    assert_eq!(ws.hello["user_id"], json!(alice.id()));
    ws.close().await;
    s.finish().await;
}

#[tokio::test]
async fn socket_closes_with_4001_when_its_token_expires() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let exp = chrono::Utc::now().timestamp() + 2;
    let token = token_with(natter_gateway::config::DEV_JWT_SECRET, alice.id(), exp);
    let mut ws = Ws::connect(&s.natter.ws_url(), &token)
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    let closed = ws.closed().await;
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    assert!(started.elapsed() < Duration::from_secs(8));
    s.finish().await;
}

fn signed(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(natter_gateway::config::DEV_JWT_SECRET.as_bytes()),
    )
    .expect("encode")
}

/// The contract needs `sub` and `exp` only; a future `nbf` is refused, and so is a validly
/// signed token of no registered user. natter's own tokens carry `iat` and a session id.
#[tokio::test]
async fn token_claims_follow_the_contract() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let now = chrono::Utc::now().timestamp();

    let minimal = alice.with_token(Some(signed(json!({"sub": alice.id(), "exp": now + 600}))));
    let (status, me) = minimal.get("/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");

    let early = signed(json!({"sub": alice.id(), "exp": now + 600, "nbf": now + 300}));
    let (status, body) = alice.with_token(Some(early.clone())).get("/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(Ws::connect(&s.natter.ws_url(), &early).await.is_err());
    let started = signed(json!({"sub": alice.id(), "exp": now + 600, "nbf": now - 5}));
    let (status, _) = alice.with_token(Some(started)).get("/v1/me").await;
    assert_eq!(status, StatusCode::OK);

    let ghost_token = signed(json!({"sub": uuid::Uuid::now_v7(), "exp": now + 600}));
    let ghost = alice.with_token(Some(ghost_token.clone()));
    for (method, path, body) in [
        (reqwest::Method::GET, "/v1/me".to_owned(), None),
        (
            reqwest::Method::POST,
            "/v1/rooms".to_owned(),
            Some(json!({"name": "g", "visibility": "public"})),
        ),
        (
            reqwest::Method::POST,
            "/v1/dms".to_owned(),
            Some(json!({"user_ids": [alice.id()]})),
        ),
    ] {
        let (status, body) = ghost.request(method, &path, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
    }
    let err = Ws::connect(&s.natter.ws_url(), &ghost_token)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("401"), "{err}");

    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub", "iat"]);
    let own = jsonwebtoken::decode::<serde_json::Value>(
        alice.token(),
        &jsonwebtoken::DecodingKey::from_secret(natter_gateway::config::DEV_JWT_SECRET.as_bytes()),
        &validation,
    )
    .expect("natter's token")
    .claims;
    assert!(own["iat"].is_u64(), "{own}");
    assert!(
        own["sid"]
            .as_str()
            .is_some_and(|s| s.parse::<uuid::Uuid>().is_ok()),
        "{own}"
    );
    s.finish().await;
}
