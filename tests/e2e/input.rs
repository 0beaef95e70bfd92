//! Input the database cannot hold or people could be fooled by: NUL anywhere, names that
//! reorder or hide their text.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Setup;

/// NUL (which PostgreSQL's text cannot hold) in any parameter or body field of any operation
/// of the OpenAPI document, and in the fields of every WebSocket frame, is `invalid` naming
/// the field: never a 500. So is a value of the wrong type.
#[tokio::test]
async fn nul_in_any_text_input_is_invalid_and_named() {
    let s = crate::Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let room = alice.create_room("r", "public").await;
    alice.send(room, "m", "hello").await;
    let message = crate::wait_history(&alice, room, 1).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // An administrator (a token that says so), so that the admin API's inputs are reached.
    let alice = alice.with_token(Some(admin_token(alice.id())));
    let (_, doc) = alice.get("/openapi.json").await;
    let schemas = doc["components"]["schemas"].clone();
    let invalid = |what: &str, status: StatusCode, body: &Value, field: &str| {
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {status} {body}"
        );
        assert_eq!(body["error"]["code"], "invalid", "{what}: {body}");
        assert_eq!(body["error"]["field"], field, "{what}: {body}");
    };
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, op) in ops.as_object().expect("ops") {
            let method: reqwest::Method = method.to_uppercase().parse().expect("method");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let fill = |name: &str| -> String {
                match name {
                    "id" if path.starts_with("/v1/messages") => message.clone(),
                    "id" if path.starts_with("/v1/rooms") => room.to_string(),
                    "message_id" => message.clone(),
                    "user_id" => bob.id().to_string(),
                    "emoji" => "%F0%9F%91%8D".into(),
                    _ => Uuid::now_v7().to_string(),
                }
            };
            let url_with = |nul_in: Option<&str>| {
                let mut url = path.clone();
                for p in params.iter().filter(|p| p["in"] == "path") {
                    let name = p["name"].as_str().expect("name");
                    let value = if Some(name) == nul_in {
                        "a%00b".into()
                    } else {
                        fill(name)
                    };
                    url = url.replace(&format!("{{{name}}}"), &value);
                }
                url
            };
            for p in &params {
                let name = p["name"].as_str().expect("name");
                let (url, field) = if p["in"] == "path" {
                    (url_with(Some(name)), "path")
                } else {
                    (format!("{}?{name}=a%00b", url_with(None)), name)
                };
                let (status, body) = alice.request(method.clone(), &url, None).await;
                invalid(&format!("{method} {url}"), status, &body, field);
                checked += 1;
            }
            let Some(reference) =
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            else {
                continue;
            };
            let schema = &schemas[reference.rsplit('/').next().expect("name")];
            let mut fields: Vec<String> = schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            if fields.is_empty() {
                fields.push("anything".into());
            }
            for field in fields {
                let url = url_with(None);
                let (status, body) = alice
                    .request(
                        method.clone(),
                        &url,
                        Some(json!({ field.clone(): "a\u{0}b" })),
                    )
                    .await;
                invalid(&format!("{method} {url} {field}"), status, &body, &field);
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "only {checked} inputs checked");

    let mut ws = s.ws(&alice).await;
    for (frame, field) in [
        (
            json!({"type": "subscribe", "room_id": room, "epoch": "a\u{0}"}),
            "epoch",
        ),
        (
            json!({"type": "send", "room_id": room, "client_msg_id": "c", "body": "a\u{0}"}),
            "body",
        ),
        (
            json!({"type": "send", "room_id": room, "client_msg_id": "\u{0}", "body": "b"}),
            "client_msg_id",
        ),
        (
            json!({"type": "edit", "message_id": message, "body": "a\u{0}"}),
            "body",
        ),
        (
            json!({"type": "react", "message_id": message, "emoji": "\u{0}", "on": true}),
            "emoji",
        ),
        (
            json!({"type": "presence", "status": "online", "text": "a\u{0}"}),
            "text",
        ),
        (json!({"type": "auth", "token": "a\u{0}"}), "token"),
        (
            json!({"type": "typing", "room_id": "\u{0}", "state": "start"}),
            "room_id",
        ),
        (
            json!({"type": "ping", "extra": {"deep": ["\u{0}"]}}),
            "extra.deep[0]",
        ),
        // A value of the wrong type names its field, not the frame's type.
        (
            json!({"type": "subscribe", "room_id": room, "since": "yesterday"}),
            "since",
        ),
        (json!({"type": "read", "room_id": 7, "seq": 1}), "room_id"),
        (
            json!({"type": "react", "message_id": message, "emoji": "x", "on": "yes"}),
            "on",
        ),
        (json!({"type": "unsubscribe"}), "room_id"),
        (json!({"type": "subscribes", "room_id": room}), "type"),
    ] {
        let reply = ws.request(frame.clone()).await;
        assert_eq!(reply["error"]["code"], "invalid", "{frame}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{frame}: {reply}");
    }
    // A value of the wrong type names its field, in a body as in a frame.
    for (bad, field) in [
        (json!({"name": 5, "visibility": "public"}), "name"),
        (
            json!({"name": "x", "visibility": "public", "e2ee": "no"}),
            "e2ee",
        ),
        (json!({"name": "x", "visibility": "everyone"}), "visibility"),
        (
            json!({"name": "x", "visibility": "public", "member_ids": [1]}),
            "member_ids",
        ),
    ] {
        let (status, body) = alice
            .request(reqwest::Method::POST, "/v1/rooms", Some(bad.clone()))
            .await;
        invalid(&bad.to_string(), status, &body, field);
    }
    // The case that was a 500.
    let (status, body) = alice.get("/v1/search?q=%00").await;
    invalid("search", status, &body, "q");
    s.finish().await;
}

/// A token of `user` with `"admin": true`, as an identity provider would issue it, signed with
/// the development secret the test gateways use.
fn admin_token(user: Uuid) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": user, "exp": now + 600, "iat": now, "admin": true}),
        &jsonwebtoken::EncodingKey::from_secret(natter_gateway::config::DEV_JWT_SECRET.as_bytes()),
    )
    .expect("token")
}

/// Names people are shown cannot reorder text or hide in invisible characters.
#[tokio::test]
async fn names_refuse_text_direction_and_invisible_characters() {
    let s = crate::Setup::new().await;
    let alice = s.user("alice").await;
    for name in [
        "abc\u{202E}gpj.exe",
        "\u{200B}",
        "\u{3164}",
        "\u{200D}admin",
    ] {
        let (status, body) = alice.patch("/v1/me", json!({"display_name": name})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}: {body}");
        assert_eq!(body["error"]["field"], "display_name");
        let (status, body) = alice
            .post("/v1/rooms", json!({"name": name, "visibility": "public"}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}: {body}");
        assert_eq!(body["error"]["field"], "name");
    }
    let (status, me) = alice
        .patch("/v1/me", json!({"display_name": "Zoë 👩‍💻"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    s.finish().await;
}

/// What cannot be answered is refused at once and in the contract's shape: a `min_seq` past
/// the log's head (it could never be reached), a body that is not an object (serde would read
/// an array as a struct), and the framework's own rejections (a multipart body it cannot
/// read, a body past the limit, a WebSocket upgrade without its headers).
#[tokio::test]
async fn unreachable_seqs_non_object_bodies_and_framework_rejections_answer_in_shape() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("general", "private").await;
    for path in [
        "/v1/unread?min_seq=999999999".to_owned(),
        "/v1/rooms?min_seq=999999999".to_owned(),
        format!("/v1/rooms/{room}/messages?min_seq=999999999"),
        format!("/v1/rooms/{room}/receipts?min_seq=999999999"),
    ] {
        let (status, body) = alice.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["field"], "min_seq", "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("head")),
            "{body}"
        );
    }
    // A seq that is in the log is waited for and answered as before.
    let seq = alice.send(room, "m1", "hi").await;
    let (status, _) = alice
        .get(&format!("/v1/rooms/{room}/messages?min_seq={seq}"))
        .await;
    assert_eq!(status, StatusCode::OK);

    for body in [
        json!([]),
        json!([null, null]),
        json!("dm_requests"),
        json!(7),
    ] {
        for path in ["/v1/me/settings".to_owned(), format!("/v1/rooms/{room}")] {
            let (status, reply) = alice.patch(&path, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {reply}");
            assert_eq!(reply["error"]["field"], "body", "{reply}");
        }
    }

    let http = reqwest::Client::new();
    let shaped = |status: StatusCode, headers: &reqwest::header::HeaderMap, text: &str| {
        assert!(
            headers[reqwest::header::CONTENT_TYPE]
                .to_str()
                .is_ok_and(|t| t.starts_with("application/json")),
            "{status}: {headers:?} {text}"
        );
        let body: Value = serde_json::from_str(text).expect("a JSON body");
        assert!(body["error"]["code"].is_string(), "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
        body
    };
    let bad_boundary = http
        .post(format!("{}/v1/uploads", s.natter.base))
        .bearer_auth(alice.token())
        .header("content-type", "multipart/form-data; boundary=")
        .body("--x\r\n\r\n")
        .send()
        .await
        .expect("upload");
    let (status, headers) = (bad_boundary.status(), bad_boundary.headers().clone());
    let body = shaped(
        status,
        &headers,
        &bad_boundary.text().await.unwrap_or_default(),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid");
    let too_big = http
        .post(format!("{}/v1/rooms", s.natter.base))
        .bearer_auth(alice.token())
        .header("content-type", "text/plain")
        .body("x".repeat(2 << 20))
        .send()
        .await
        .expect("post");
    let (status, headers) = (too_big.status(), too_big.headers().clone());
    shaped(status, &headers, &too_big.text().await.unwrap_or_default());
    assert!(status.is_client_error());
    let no_upgrade = http
        .get(format!("{}/v1/ws", s.natter.base))
        .send()
        .await
        .expect("get");
    let (status, headers) = (no_upgrade.status(), no_upgrade.headers().clone());
    shaped(
        status,
        &headers,
        &no_upgrade.text().await.unwrap_or_default(),
    );
    assert!(status.is_client_error());
    s.env.cleanup().await;
}
