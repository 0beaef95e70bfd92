//! Forgetting, over the real surface: personal data is sealed in the log (the stored events
//! hold no message text, name or password hash), while every reader shows it as before.

use serde_json::json;

use crate::Setup;

#[tokio::test]
async fn personal_data_is_sealed_in_the_log_and_shown_to_readers() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let (status, _) = alice
        .patch(
            "/v1/me",
            json!({"display_name": "Alice Liddell", "status_text": "down the hole"}),
        )
        .await;
    assert!(status.is_success());
    let room = alice.create_room("r", "public").await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert!(status.is_success());
    let mut socket = s.ws(&bob).await;
    socket.subscribe(room).await;
    let seq = alice.send(room, "s1", "my secret plan").await;
    let (status, _) = natter_testkit::Api::anonymous(&s.natter.base)
        .post(
            "/v1/auth/login",
            json!({"username": "alice", "password": "password123", "device": "alice-pocket-phone"}),
        )
        .await;
    assert!(status.is_success());
    let (_, sessions) = alice.get("/v1/me/sessions").await;
    assert_eq!(
        sessions["sessions"][0]["device"], "alice-pocket-phone",
        "{sessions}"
    );

    // Live, in history and in search, as before.
    let live = socket.next_of("event").await;
    assert_eq!(live["event"]["data"]["body"], "my secret plan");
    assert_eq!(alice.history_bodies(room, seq).await, ["my secret plan"]);

    // Stored: nothing of it in the clear.
    let bus = s.env.bus().await;
    let raw: Vec<String> = {
        let mut raw = Vec::new();
        for n in 1..=bus.last_seq().await.expect("head") {
            raw.push(String::from_utf8_lossy(&bus.get(n).await.expect("event")).into_owned());
        }
        raw
    };
    let log = raw.join("\n");
    for secret in [
        "my secret plan",
        "Alice Liddell",
        "down the hole",
        "$argon2id",
        "\"alice\"",
        "alice-pocket-phone",
    ] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
    assert!(log.contains("\"sealed\""), "{log}");
    s.env.cleanup().await;
}

/// What an erasure must leave nowhere.
const SECRETS: [&str; 5] = [
    "erase me please",
    "an edited secret",
    "a thread secret",
    "Alice Liddell",
    "passport-scan",
];

fn holds_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} still holds {secret:?}");
    }
}

#[tokio::test]
async fn an_erased_account_leaves_its_text_nowhere_and_its_name_free() {
    let mut config = natter_testkit::gateway_config();
    config.files.file_sweep_secs = 1;
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let (status, _) = alice
        .patch("/v1/me", json!({"display_name": "Alice Liddell"}))
        .await;
    assert!(status.is_success());
    let room = alice.create_room("r", "public").await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert!(status.is_success());
    let (_, file) = alice.upload("passport-scan.txt", b"numbers".to_vec()).await;
    let (status, posted) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "erase me please", "client_msg_id": "a1", "attachment_ids": [file["id"]]}),
        )
        .await;
    assert!(status.is_success(), "{posted}");
    let message = posted["message_id"].as_str().expect("id").to_owned();
    let (status, _) = alice
        .patch(
            &format!("/v1/messages/{message}"),
            json!({"body": "an edited secret"}),
        )
        .await;
    assert!(status.is_success());
    let (status, _) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "a thread secret", "client_msg_id": "a2", "thread_root_id": message}),
        )
        .await;
    assert!(status.is_success());
    let last = bob.send(room, "b1", "bob stays").await;
    let mut alice_socket = s.ws(&alice).await;
    let mut bob_socket = s.ws(&bob).await;

    // First, their data to keep.
    let (status, export) = alice.get("/v1/me/export").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{export}");
    let kept = export.to_string();
    for mine in [
        "an edited secret",
        "a thread secret",
        "Alice Liddell",
        "passport-scan.txt",
    ] {
        assert!(
            kept.contains(mine),
            "{mine} is missing from the export: {kept}"
        );
    }
    assert_eq!(export["user"]["username"], "alice");
    assert_eq!(
        export["messages"].as_array().map(Vec::len),
        Some(2),
        "{export}"
    );

    // The password confirms it.
    let (status, _) = alice
        .delete_with("/v1/me", json!({"password": "nope-nope"}))
        .await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
    let (status, body) = alice
        .delete_with("/v1/me", json!({"password": "password123"}))
        .await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT, "{body}");

    // The account is gone: its socket closes, its token and password stop working, nobody
    // finds it.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), alice_socket.closed())
        .await
        .expect("closed");
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    // Those who shared a room are told, without where else they were.
    let gone = loop {
        let notice = bob_socket.next_of("notice").await;
        if notice["event"]["type"] == "user.erased" {
            break notice;
        }
    };
    assert_eq!(
        gone["event"]["data"],
        json!({"user_id": alice.id()}),
        "{gone}"
    );
    assert_eq!(
        alice.get("/v1/me").await.0,
        reqwest::StatusCode::UNAUTHORIZED
    );
    let (status, _) = natter_testkit::Api::anonymous(&s.natter.base)
        .post(
            "/v1/auth/login",
            json!({"username": "alice", "password": "password123"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(
        bob.get(&format!("/v1/users/{}", alice.id())).await.0,
        reqwest::StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.get("/v1/users/by-name/alice").await.0,
        reqwest::StatusCode::NOT_FOUND
    );

    // Their files go from the store at the sweeper's next pass.
    let pool = s.env.pool().await;
    let file_id = crate::files::file_id(&file);
    natter_testkit::wait_until(
        "the erased user's file swept",
        std::time::Duration::from_secs(10),
        || {
            let pool = pool.clone();
            async move {
                let removed: Option<bool> =
                    sqlx::query_scalar("SELECT removed_at IS NOT NULL FROM files WHERE id = $1")
                        .bind(file_id)
                        .fetch_optional(&pool)
                        .await
                        .ok()
                        .flatten();
                removed.filter(|r| *r)
            }
        },
    )
    .await;
    pool.close().await;

    // What others see: the messages keep their place, without their text.
    let (_, page) = bob
        .get(&format!("/v1/rooms/{room}/messages?min_seq={last}"))
        .await;
    let erased: Vec<&serde_json::Value> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["sender_id"] == json!(alice.id()))
        .collect();
    assert!(!erased.is_empty(), "{page}");
    for m in &erased {
        assert_eq!(m["erased"], true, "{m}");
        assert!(m["body"].is_null(), "{m}");
    }
    let (_, edits) = bob.get(&format!("/v1/messages/{message}/edits")).await;
    let (_, thread) = bob.get(&format!("/v1/messages/{message}/thread")).await;
    let (_, found) = bob.get("/v1/search?q=secret").await;
    let (_, members) = bob.get(&format!("/v1/rooms/{room}/members")).await;
    let (_, history) = bob.get(&format!("/v1/rooms/{room}/messages")).await;
    for (what, value) in [
        ("edits", &edits),
        ("thread", &thread),
        ("search", &found),
        ("members", &members),
        ("history", &history),
    ] {
        holds_no_secret(what, &value.to_string());
    }
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(0),
        "{found}"
    );
    // A resume replays the log: erased there too.
    let mut again = s.ws(&bob).await;
    again
        .ok(json!({"type": "subscribe", "room_id": room, "since": 0, "epoch": again.hello["epoch"]}))
        .await;
    let replayed = again.drain(std::time::Duration::from_millis(300)).await;
    holds_no_secret("a resume", &serde_json::to_string(&replayed).expect("json"));

    // The log itself, dumped (sealed, or unsealed with the keys that are left).
    let env = &s.env;
    for args in [&["events", "dump"][..], &["events", "dump", "--unseal"][..]] {
        let (code, out, err) = crate::identity::run(env, args).await;
        assert_eq!(code, Some(0), "{err}");
        holds_no_secret("the log", &out);
    }
    // Rebuilt from the log, the read models hold none of it either, and verify passes.
    for args in [
        &["projections", "rebuild", "all"][..],
        &["projections", "verify", "all"][..],
    ] {
        let (code, out, err) = crate::identity::run(env, args).await;
        assert_eq!(code, Some(0), "{args:?}: {out}{err}");
    }
    let (_, rebuilt) = bob.get(&format!("/v1/rooms/{room}/messages")).await;
    holds_no_secret("rebuilt history", &rebuilt.to_string());
    assert!(rebuilt.to_string().contains("bob stays"));

    // The name is free again, for someone new.
    let mut reclaimed = None;
    for _ in 0..50 {
        let (status, body) = natter_testkit::Api::anonymous(&s.natter.base)
            .post(
                "/v1/auth/register",
                json!({"username": "alice", "password": "password456"}),
            )
            .await;
        if status == reqwest::StatusCode::CREATED {
            reclaimed = Some(body);
            break;
        }
        assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let reclaimed = reclaimed.expect("the name was released");
    assert_ne!(reclaimed["user"]["id"], json!(alice.id()));
    s.env.cleanup().await;
}

/// A deleted message's text goes from the log too: its versions' slots are destroyed, while
/// the messages around it stay readable.
#[tokio::test]
async fn a_deleted_message_is_unreadable_in_the_log() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let (_, posted) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "a regrettable first draft", "client_msg_id": "d1"}),
        )
        .await;
    let message = posted["message_id"].as_str().expect("id").to_owned();
    let (status, _) = alice
        .patch(
            &format!("/v1/messages/{message}"),
            json!({"body": "a regrettable second draft"}),
        )
        .await;
    assert!(status.is_success());
    alice.send(room, "k1", "this one stays").await;
    let (status, _) = alice.delete(&format!("/v1/messages/{message}")).await;
    assert!(status.is_success());

    // Read with the keys, by a process that cached none of them.
    natter_testkit::wait_until(
        "the slots destroyed",
        std::time::Duration::from_secs(15),
        || async {
            let (code, out, _) =
                crate::identity::run(&s.env, &["events", "dump", "--unseal"]).await;
            (code == Some(0) && !out.contains("regrettable")).then_some(out)
        },
    )
    .await;
    let (_, out, _) = crate::identity::run(&s.env, &["events", "dump", "--unseal"]).await;
    assert!(out.contains("this one stays"), "{out}");
    s.env.cleanup().await;
}
