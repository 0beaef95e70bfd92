//! Full-text search: stemming, ranking, highlights, filters, paging, and only the caller's
//! rooms.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::Setup;

fn bodies(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["message"]["body"].as_str().expect("body").to_owned())
        .collect()
}

#[tokio::test]
async fn search_finds_stems_ranks_filters_and_pages() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let eve = s.user("eve").await;
    let room = alice.create_room("ops", "public").await;
    let other = alice.create_room("dev", "public").await;
    let secret = eve.create_room("eve's", "private").await;
    let unjoined = eve.create_room("eve's public", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    alice.send(room, "a1", "The deploy is running now").await;
    alice.send(room, "a2", "coffee break").await;
    bob.send(
        room,
        "b1",
        "deploys run, deploys run, the deploy runs again",
    )
    .await;
    alice.send(other, "a3", "deploy of the other service").await;
    eve.send(secret, "e1", "secret deploy plans").await;
    let last = eve.send(unjoined, "e2", "public deploy chatter").await;

    // Stemming: "deploying" finds deploy/deploys; the densest match ranks first; only rooms
    // Alice belongs to (not Eve's private room, nor a public room she has not joined).
    let (status, page) = alice
        .get(&format!("/v1/search?q=deploying&min_seq={last}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let found = bodies(&page);
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[0], "deploys run, deploys run, the deploy runs again");
    assert!(
        !found
            .iter()
            .any(|b| b.contains("secret") || b.contains("chatter"))
    );
    let hit = &page["results"][0];
    assert_eq!(hit["room_id"], room.to_string());
    assert!(
        hit["highlight"]
            .as_str()
            .expect("highlight")
            .contains("<mark>deploys</mark>"),
        "{hit}"
    );
    assert_eq!(page["next_cursor"], Value::Null);

    // Filters.
    let (_, page) = alice
        .get(&format!("/v1/search?q=deploy&room_id={other}"))
        .await;
    assert_eq!(bodies(&page), ["deploy of the other service"]);
    let (_, page) = alice
        .get(&format!("/v1/search?q=deploy&sender_id={}", bob.id()))
        .await;
    assert_eq!(bodies(&page).len(), 1);
    let (_, page) = alice.get("/v1/search?q=deploy&after=2999-01-01").await;
    assert_eq!(bodies(&page).len(), 0);
    let (_, page) = alice
        .get("/v1/search?q=deploy&before=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(bodies(&page).len(), 3);
    let (_, page) = alice.get("/v1/search?q=deploy&has=attachment").await;
    assert_eq!(bodies(&page).len(), 0, "no message has an attachment");
    let (_, page) = alice.get("/v1/search?q=%22deploy%20is%20running%22").await;
    assert_eq!(bodies(&page), ["The deploy is running now"], "a phrase");
    let (_, page) = alice.get("/v1/search?q=deploy%20-service").await;
    assert_eq!(bodies(&page).len(), 2, "excluding a word");

    // Paging with the cursor visits every hit once, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/v1/search?q=deploy&limit=1".to_owned(),
            Some(c) => format!("/v1/search?q=deploy&limit=1&cursor={c}"),
        };
        let (status, page) = alice.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(bodies(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let (_, all) = alice.get("/v1/search?q=deploy").await;
    assert_eq!(seen, bodies(&all));

    // Edits re-index; deletes un-index.
    let edited = natter_schemas::ids::message_id(alice.id(), "a2");
    let (_, reply) = alice
        .patch(
            &format!("/v1/messages/{edited}"),
            json!({"body": "tea break instead"}),
        )
        .await;
    let seq = reply["seq"].as_u64().expect("seq");
    let (_, page) = alice
        .get(&format!("/v1/search?q=coffee&min_seq={seq}"))
        .await;
    assert_eq!(bodies(&page).len(), 0);
    let (_, page) = alice.get("/v1/search?q=tea").await;
    assert_eq!(bodies(&page), ["tea break instead"]);
    let deleted = natter_schemas::ids::message_id(bob.id(), "b1");
    let (_, reply) = bob.delete(&format!("/v1/messages/{deleted}")).await;
    let seq = reply["seq"].as_u64().expect("seq");
    let (_, page) = alice
        .get(&format!("/v1/search?q=deploy&min_seq={seq}"))
        .await;
    assert_eq!(bodies(&page).len(), 2);

    // Bad input.
    for bad in [
        "/v1/search",
        "/v1/search?q=%20%20",
        "/v1/search?q=x&limit=500",
        "/v1/search?q=x&cursor=nope",
        "/v1/search?q=x&after=yesterday",
        "/v1/search?q=x&has=pictures",
        "/v1/search?q=x&room_id=42",
    ] {
        let (status, body) = alice.get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid", "{bad}");
    }
    // Stop words alone match nothing, without an error.
    let (status, page) = alice.get("/v1/search?q=the").await;
    assert_eq!((status, bodies(&page).len()), (StatusCode::OK, 0));
    s.finish().await;
}
