//! Sessions over the real surface: each sign-in is one, listed with its device; ending one,
//! logging out, logging out everywhere and changing the password refuse the tokens they end
//! over REST and close their sockets with 4001, also after a restart; refresh tokens rotate,
//! and one used twice ends its session.

use std::time::Duration;

use natter_testkit::{Api, Natter, Ws};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::Setup;

/// Signs `name` in (password `password`) from `device`: the client and the answer.
async fn login(base: &str, name: &str, password: &str, device: &str) -> (Api, Value) {
    let anon = Api::anonymous(base);
    let (status, body) = anon
        .post(
            "/v1/auth/login",
            json!({"username": name, "password": password, "device": device}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "login {name}: {body}");
    let mut api = anon.with_token(body["token"].as_str().map(str::to_owned));
    api.user_id = body["user"]["id"].as_str().and_then(|s| s.parse().ok());
    (api, body)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

async fn refused(api: &Api) {
    let (status, body) = api.get("/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

async fn closed_with_4001(ws: &mut Ws) -> String {
    let closed = tokio::time::timeout(Duration::from_secs(10), ws.closed())
        .await
        .expect("the socket closes");
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    closed.reason
}

#[tokio::test]
async fn sessions_are_listed_and_each_can_be_ended() {
    let s = Setup::new().await;
    let base = &s.natter.base;
    let _ = s.user("alice").await;
    let (laptop, first) = login(base, "alice", "password123", "Firefox on a laptop").await;
    // A device name loses what no shown text may hold (here a text-direction override).
    let (phone, second) = login(base, "alice", "password123", "natter for\u{202E} Android").await;
    assert!(
        first["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    let (status, list) = phone.get("/v1/me/sessions").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let sessions = list["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 3, "registering was one: {list}");
    assert_eq!(sessions[0]["id"], second["session_id"], "newest first");
    assert_eq!(sessions[0]["device"], "natter for Android");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["device"], "Firefox on a laptop");
    assert_eq!(sessions[1]["current"], false);
    // When each was last used is recorded in the background.
    natter_testkit::wait_until("last seen", Duration::from_secs(5), || async {
        let (_, list) = phone.get("/v1/me/sessions").await;
        list["sessions"][0]["last_seen"].as_str().map(str::to_owned)
    })
    .await;

    // The phone ends the laptop's session: its REST calls and its socket stop.
    let mut socket = s.ws(&laptop).await;
    let laptop_session = str_of(&first, "session_id");
    let (status, body) = phone
        .delete(&format!("/v1/me/sessions/{laptop_session}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let reason = closed_with_4001(&mut socket).await;
    assert!(reason.contains("ended"), "{reason}");
    refused(&laptop).await;
    let (status, _) = phone.get("/v1/me").await;
    assert_eq!(status, StatusCode::OK, "the phone carries on");

    // Someone else's session, or none, is not found.
    let bob = s.user("bob").await;
    let (status, _) = bob
        .delete(&format!(
            "/v1/me/sessions/{}",
            str_of(&second, "session_id")
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Logging out ends this session only.
    let (status, _) = phone.post("/v1/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    refused(&phone).await;
    let socket = Ws::connect(&s.natter.ws_url(), phone.token()).await;
    assert!(socket.is_err(), "an ended session opens no socket");
    s.env.cleanup().await;
}

#[tokio::test]
async fn logout_all_and_a_password_change_end_every_session_also_after_a_restart() {
    let s = Setup::new().await;
    let base = s.natter.base.clone();
    let alice = s.user("alice").await;
    let (desk, _) = login(&base, "alice", "password123", "desk").await;
    let mut desk_socket = s.ws(&desk).await;

    // Everything issued so far stops; a later sign-in works.
    let (status, _) = alice.post("/v1/auth/logout_all", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(closed_with_4001(&mut desk_socket).await.contains("ended"));
    refused(&alice).await;
    refused(&desk).await;
    let (desk, _) = login(&base, "alice", "password123", "desk").await;
    let (tablet, _) = login(&base, "alice", "password123", "tablet").await;
    let mut tablet_socket = s.ws(&tablet).await;

    // A password change: the wrong old one is refused, then every other session ends and
    // the caller carries on with fresh tokens.
    let wrong = json!({"old_password": "nope-nope", "new_password": "correct horse"});
    let (status, body) = desk.post("/v1/me/password", wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let short = json!({"old_password": "password123", "new_password": "short"});
    let (status, body) = desk.post("/v1/me/password", short).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "new_password");
    let change = json!({"old_password": "password123", "new_password": "correct horse"});
    let (status, renewed) = desk.post("/v1/me/password", change).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let reason = closed_with_4001(&mut tablet_socket).await;
    assert!(reason.contains("password"), "{reason}");
    refused(&tablet).await;
    refused(&desk).await;
    let desk = desk.with_token(renewed["token"].as_str().map(str::to_owned));
    let (status, _) = desk.get("/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = Api::anonymous(&base)
        .post(
            "/v1/auth/login",
            json!({"username": "alice", "password": "password123"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    let (_, list) = desk.get("/v1/me/sessions").await;
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(1), "{list}");

    // Ends are state in the log: a restarted natter refuses them still.
    let Setup { env, natter } = s;
    natter.stop().await;
    let natter = Natter::start(&env).await;
    refused(&tablet.at(&natter.base)).await;
    let (status, _) = desk.at(&natter.base).get("/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    natter.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_one_used_twice_ends_its_session() {
    let s = Setup::new().await;
    let base = &s.natter.base;
    let _ = s.user("alice").await;
    let (app, first) = login(base, "alice", "password123", "app").await;
    let anon = Api::anonymous(base);
    let spend = |token: &str| {
        let anon = anon.clone();
        let body = json!({ "refresh_token": token });
        async move { anon.post("/v1/auth/refresh", body).await }
    };

    let (status, second) = spend(str_of(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["session_id"], first["session_id"]);
    let fresh = app.with_token(second["token"].as_str().map(str::to_owned));
    let (status, _) = fresh.get("/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    let (status, third) = spend(str_of(&second, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{third}");

    // The first refresh token again: someone else may hold it, so the session ends.
    let (status, body) = spend(str_of(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    refused(&fresh).await;
    let (status, _) = spend(str_of(&third, "refresh_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the whole family ended");

    // Two uses at once: at most one wins, and the session ends either way.
    let (_, other) = login(base, "alice", "password123", "other").await;
    let token = str_of(&other, "refresh_token").to_owned();
    let (a, b) = tokio::join!(spend(&token), spend(&token));
    let wins = [&a, &b]
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    assert!(wins <= 1, "{a:?} {b:?}");
    let winner = [a, b]
        .into_iter()
        .find(|(status, _)| *status == StatusCode::OK);
    if let Some((_, pair)) = winner {
        let (status, _) = spend(str_of(&pair, "refresh_token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "ended by the second use");
    }

    // Forged, garbled and missing tokens are refused with a reason.
    let (status, body) = spend("nr1.garbage").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = anon.post("/v1/auth/refresh", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    s.env.cleanup().await;
}
