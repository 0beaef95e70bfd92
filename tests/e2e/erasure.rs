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
    ] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
    assert!(log.contains("\"sealed\""), "{log}");
    s.env.cleanup().await;
}
