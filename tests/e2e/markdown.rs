//! Markdown messages over the real surface: the log keeps the source, every reader gets the
//! same sanitised HTML (live, history, edits, search), and search reads the text, not the
//! markup.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::Setup;
use crate::messages::post;

const ATTACK: &str = "**bold** hi @bobby <script>alert(1)</script> <img src=x onerror=alert(1)> \
                      [click](javascript:alert(1)) [docs](https://hidden-target.example/path) \
                      ![pic](https://tracker.example/p.png) https://bare.example/x";

/// No tag but the rendered ones, no script URL (the attack's text shows escaped).
fn assert_safe(html: &str) {
    for bad in ["<script", "<img", "javascript:", "style="] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    for tag in html.split('<').skip(1) {
        let name = tag.split([' ', '>']).next().unwrap_or_default();
        assert!(
            ["p", "/p", "strong", "/strong", "a", "/a", "em", "/em"].contains(&name),
            "<{name} in {html}"
        );
    }
}

fn rows(page: &Value, key: &str) -> Vec<Value> {
    page[key].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn markdown_is_rendered_sanitised_everywhere_and_searched_as_text() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let room = alice.create_room("md", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let mut bob_ws = s.ws(&bob).await;
    bob_ws.subscribe(room).await;

    // Over the socket, as a client sends it.
    let mut alice_ws = s.ws(&alice).await;
    let reply = alice_ws
        .ok(
            json!({"type": "send", "room_id": room, "client_msg_id": "m1", "body": ATTACK,
                   "format": "markdown"}),
        )
        .await;
    let id = reply["message_id"].as_str().expect("id").to_owned();
    let live = bob_ws.events(1).await.remove(0);
    let message = &live["event"]["data"];
    assert_eq!(message["body"], ATTACK, "the source is kept");
    assert_eq!(message["format"], "markdown");
    let html = message["html"].as_str().expect("html");
    assert_safe(html);
    assert!(html.contains("<strong>bold</strong>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;"),
        "raw HTML shows as text: {html}"
    );
    let mention = format!(r#"class="mention" data-user-id="{}""#, bob.id());
    assert!(html.contains(&mention), "{html}");
    assert!(
        html.contains(r#"href="https://bare.example/x" rel="noopener nofollow noreferrer""#),
        "{html}"
    );
    assert_eq!(message["mentions"], json!([bob.id()]));

    // History and the message endpoint show the same HTML.
    let seq = live["seq"].as_u64().expect("seq");
    let (_, page) = bob
        .get(&format!("/v1/rooms/{room}/messages?min_seq={seq}"))
        .await;
    let stored = rows(&page, "messages");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["html"], html);
    assert_eq!(stored[0]["format"], "markdown");

    // A plain message has no HTML, and its markup is just text.
    let (_, plain_seq) = post(&alice, room, "p1", json!({"body": "**not bold** here"})).await;
    let (_, page) = bob
        .get(&format!("/v1/rooms/{room}/messages?min_seq={plain_seq}"))
        .await;
    let plain = rows(&page, "messages").pop().expect("plain");
    assert_eq!(plain["format"], "plain");
    assert!(plain["html"].is_null());

    // Search reads the text: link text and words, not link targets or markup.
    let (status, found) = bob
        .get(&format!("/v1/search?q=docs&min_seq={plain_seq}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let results = rows(&found, "results");
    assert_eq!(results.len(), 1, "{found}");
    assert_eq!(results[0]["message"]["html"], html);
    let (_, hidden) = bob.get("/v1/search?q=hidden-target").await;
    assert!(rows(&hidden, "results").is_empty(), "{hidden}");
    let (_, links) = bob.get("/v1/search?q=docs&has=link").await;
    assert_eq!(rows(&links, "results").len(), 1, "{links}");

    // An edit without a format keeps Markdown; live and in history it carries the new HTML.
    let edit = alice_ws
        .ok(json!({"type": "edit", "message_id": id, "body": "_now_ [safe](https://ok.example)"}))
        .await;
    assert_eq!(edit["changed"], true);
    let live = bob_ws.events(2).await.pop().expect("edit");
    assert_eq!(live["event"]["type"], "message.edited");
    let edited = live["event"]["data"]["html"].as_str().expect("html");
    assert!(edited.contains("<em>now</em>"), "{edited}");
    let edit_seq = live["seq"].as_u64().expect("seq");
    let (_, now) = bob
        .get(&format!("/v1/messages/{id}?min_seq={edit_seq}"))
        .await;
    assert_eq!(now["html"], edited);
    // The same body as plain text is a change of format: the HTML goes.
    let (status, reply) = alice
        .patch(
            &format!("/v1/messages/{id}"),
            json!({"body": "_now_ [safe](https://ok.example)", "format": "plain"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let plain_seq = reply["seq"].as_u64().expect("a change");
    let (_, versions) = bob
        .get(&format!("/v1/messages/{id}/edits?min_seq={plain_seq}"))
        .await;
    let versions = rows(&versions, "versions");
    let formats: Vec<&str> = versions
        .iter()
        .map(|v| v["format"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(formats, ["markdown", "markdown", "plain"]);
    assert_eq!(versions[0]["html"], html);
    assert_eq!(versions[1]["html"], edited);
    assert!(versions[2]["html"].is_null());

    // Deleted: no body, no HTML, anywhere.
    let (status, reply) = alice.delete(&format!("/v1/messages/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let seq = reply["seq"].as_u64().expect("seq");
    let (_, gone) = bob.get(&format!("/v1/messages/{id}?min_seq={seq}")).await;
    assert!(gone["html"].is_null() && gone["body"].is_null(), "{gone}");
}

#[tokio::test]
async fn an_unknown_format_is_refused() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("md", "public").await;
    let (status, reply) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "x", "client_msg_id": "c", "format": "html"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["code"], "invalid");
    let mut ws = s.ws(&alice).await;
    let reply = ws
        .request(
            json!({"type": "send", "room_id": room, "client_msg_id": "c", "body": "x",
                        "format": "html"}),
        )
        .await;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "invalid");
}
