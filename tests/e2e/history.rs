use reqwest::StatusCode;

use crate::Setup;

fn seqs(page: &serde_json::Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

#[tokio::test]
async fn history_pages_both_ways() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let mut sent = Vec::new();
    for i in 0..25 {
        sent.push(
            alice
                .send(room, &format!("m{i}"), &format!("body {i}"))
                .await,
        );
    }
    let last = *sent.last().expect("sent");
    // min_seq: the read waits until the projection has the last send.
    let (status, page) = alice
        .get(&format!(
            "/v1/rooms/{room}/messages?limit=10&min_seq={last}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        seqs(&page),
        sent[15..].to_vec(),
        "the newest page, ascending"
    );
    assert_eq!(page["has_more_before"], true);
    assert_eq!(page["has_more_after"], false);
    let message = &page["messages"][9];
    assert_eq!(message["body"], "body 24");
    assert_eq!(message["deleted"], false);
    assert_eq!(message["reactions"], serde_json::json!([]));

    // Backwards to the start.
    let mut collected = seqs(&page);
    let mut before = collected[0];
    loop {
        let (_, page) = alice
            .get(&format!(
                "/v1/rooms/{room}/messages?limit=10&before={before}"
            ))
            .await;
        let mut got = seqs(&page);
        assert_eq!(page["has_more_after"], true);
        got.extend(collected);
        collected = got;
        before = collected[0];
        if page["has_more_before"] == false {
            break;
        }
    }
    assert_eq!(collected, sent);

    // Forwards from the start.
    let mut forward = Vec::new();
    let mut after = 0;
    loop {
        let (_, page) = alice
            .get(&format!("/v1/rooms/{room}/messages?limit=7&after={after}"))
            .await;
        let got = seqs(&page);
        after = *got.last().expect("non-empty page");
        forward.extend(got);
        if page["has_more_after"] == false {
            break;
        }
    }
    assert_eq!(forward, sent);

    // Around a message.
    let (_, page) = alice
        .get(&format!(
            "/v1/rooms/{room}/messages?limit=6&around={}",
            sent[12]
        ))
        .await;
    assert_eq!(seqs(&page), sent[9..15].to_vec());
    assert_eq!(page["has_more_before"], true);
    assert_eq!(page["has_more_after"], true);

    // One message; bad parameters.
    let id = page["messages"][3]["id"].as_str().expect("id");
    let (status, one) = alice.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["seq"], sent[12]);
    for bad in ["limit=0", "limit=101", "before=1&after=2", "limit=abc"] {
        let (status, body) = alice.get(&format!("/v1/rooms/{room}/messages?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid");
    }
    s.finish().await;
}
