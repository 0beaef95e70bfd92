//! `natter chat`, the terminal client, driven through pseudo-terminals
//! (`tests/terminal/*.py`, with pexpect and the pyte terminal emulator, which `scripts/test`
//! installs).

use std::time::Duration;

use natter_schemas::event::{EventBody, MessagePosted};
use natter_schemas::{Event, ids};
use serde_json::json;
use uuid::Uuid;

use crate::{Setup, run_scenario, scenario_file};

#[tokio::test]
async fn two_people_chat_in_terminals() {
    let s = Setup::new().await;
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(scenario_file("terminal/chat.py"))
        .arg(natter_testkit::natter_binary())
        .arg(&s.natter.base);
    run_scenario(command, "python3 and pexpect").await;
    s.env.cleanup().await;
}

/// A message full of escape sequences (one the server refuses now, as an older server kept
/// it: appended to the log directly) reaches Bob's terminal as visible text: the window's
/// title is never set, no colour appears, and a newline in it cannot fake someone's line.
#[tokio::test]
async fn escape_codes_in_messages_are_shown_not_obeyed() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let (_, dm) = alice.post("/v1/dms", json!({"user_ids": [bob.id()]})).await;
    let room: Uuid = dm["id"].as_str().and_then(|s| s.parse().ok()).expect("dm");
    let evil = "\u{1b}]0;pwned\u{7}\u{1b}[31mred\u{1b}[0m \u{9b}32mgreen \u{1b}[2J\r\n\
                [9] 12:00 carol: a line carol never wrote";
    let (status, reply) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": evil, "client_msg_id": "refused"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{reply}");

    let bus = s.env.bus().await;
    let vault =
        natter_vault::Vault::open(&bus, natter_vault::Keks::development(), 1, Duration::ZERO)
            .await
            .expect("vault");
    let mut event = Event::new(
        alice.id(),
        Some(room),
        EventBody::MessagePosted(MessagePosted {
            message_id: ids::message_id(alice.id(), "old"),
            client_msg_id: "old".into(),
            body: evil.into(),
            ..MessagePosted::default()
        }),
    );
    let subject = bus.subjects().room_event(room, event.type_name());
    vault.seal_event(&mut event).await.expect("sealed");
    bus.append(subject, &event, None, false)
        .await
        .expect("appended");
    alice.send(room, "end", "the end").await;

    let mut command = tokio::process::Command::new("python3");
    command
        .arg(scenario_file("terminal/escapes.py"))
        .arg(natter_testkit::natter_binary())
        .arg(&s.natter.base);
    run_scenario(command, "python3, pexpect and pyte").await;
    s.env.cleanup().await;
}
