//! Files with messages: carried live, in history and search, readable while a message shows
//! them; swept when nobody can read them.

use natter_testkit::{Api, Ws};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::{file_id, png_bytes};
use crate::{Setup, wait_history};

/// Files travel with messages: live, in history and in search, with signed URLs that work for
/// the room's members; only the sender's own uploads can be attached; a deleted message takes
/// its files with it.
#[tokio::test]
async fn attachments_travel_with_messages_and_follow_who_may_read_them() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    let room = alice.create_room("photos", "private").await;
    let (status, _) = alice
        .post(
            &format!("/v1/rooms/{room}/members"),
            json!({"user_id": bob.id()}),
        )
        .await;
    assert!(status.is_success());
    let mut bob_ws = Ws::connect(&s.natter.ws_url(), bob.token())
        .await
        .expect("ws");
    bob_ws.subscribe(room).await;

    let (_, photo) = alice.upload("cat.png", png_bytes(1000)).await;
    let (_, notes) = alice
        .upload("notes.txt", b"see https://example.com".to_vec())
        .await;
    let (_, bobs) = bob.upload("bob.png", png_bytes(10)).await;
    let (photo_id, notes_id) = (file_id(&photo), file_id(&notes));

    // Only the sender's own uploads; nothing is stored otherwise.
    for ids in [json!([file_id(&bobs)]), json!([Uuid::now_v7()])] {
        let (status, body) = alice
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"body": "x", "client_msg_id": Uuid::now_v7().to_string(), "attachment_ids": ids}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], "attachment_ids");
    }
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "holiday photos", "client_msg_id": "m1",
                   "attachment_ids": [photo_id, notes_id]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    alice
        .send(room, "m2", "and a link: https://natter.example/docs")
        .await;
    // A message may be its files alone.
    let (status, body) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "", "client_msg_id": "m3", "attachment_ids": [photo_id]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Live, to a member's socket.
    let event = loop {
        let frame = bob_ws.next_of("event").await;
        if frame["event"]["type"] == "message.posted" {
            break frame;
        }
    };
    let live = &event["event"]["data"]["attachments"];
    assert_eq!(live.as_array().map(Vec::len), Some(2), "{event}");
    assert_eq!(live[0]["id"], photo_id.to_string());
    assert_eq!(live[0]["name"], "cat.png");
    assert_eq!(live[0]["content_type"], "image/png");

    // In history, with URLs the member can use without a token.
    wait_history(&bob, room, 3).await;
    let (_, page) = bob.get(&format!("/v1/rooms/{room}/messages")).await;
    let first = &page["messages"][0];
    assert_eq!(first["attachments"][1]["name"], "notes.txt");
    let photo_url = first["attachments"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let anon = Api::anonymous(&s.natter.base);
    assert_eq!(anon.fetch(&photo_url, None).await.0, StatusCode::OK);
    // A member with a token may read it; an outsider may not.
    assert_eq!(
        bob.fetch(&format!("/v1/files/{photo_id}"), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        carol.fetch(&format!("/v1/files/{photo_id}"), None).await.0,
        StatusCode::NOT_FOUND
    );

    // Search: has=attachment, has=image, has=link.
    for (q, has, want) in [
        ("holiday", "attachment", 1),
        ("holiday", "image", 1),
        ("holiday", "link", 0),
        ("link", "link", 1),
        ("link", "attachment", 0),
    ] {
        let (_, hits) = bob
            .get(&format!("/v1/search?q={q}&has={has}&min_seq=1"))
            .await;
        assert_eq!(
            hits["results"].as_array().map(Vec::len),
            Some(want),
            "{q} {has}: {hits}"
        );
        if want == 1 {
            let found = &hits["results"][0]["message"];
            assert_eq!(
                found["attachments"].as_array().map(Vec::len),
                Some(if has == "link" { 0 } else { 2 })
            );
        }
    }
    let (status, _) = bob.get("/v1/search?q=link&has=video").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Deleted, the messages take their files: nobody reads them any more, signed or not.
    for message in page["messages"].as_array().expect("messages") {
        if message["attachments"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            let id = message["id"].as_str().expect("id");
            let (status, body) = alice.delete(&format!("/v1/messages/{id}")).await;
            assert!(status.is_success(), "{body}");
        }
    }
    let path = format!("/v1/files/{photo_id}");
    natter_testkit::wait_until(
        "the file to go",
        std::time::Duration::from_secs(10),
        || async { (bob.fetch(&path, None).await.0 == StatusCode::NOT_FOUND).then_some(()) },
    )
    .await;
    assert_eq!(anon.fetch(&photo_url, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        alice.fetch(&format!("/v1/files/{photo_id}"), None).await.0,
        StatusCode::NOT_FOUND
    );
    s.natter.stop().await;
    s.env.cleanup().await;
}

/// The sweeper removes what nobody can read any more, recording each removal in the log
/// first: an upload never attached in time, a file whose every message is deleted, and bytes
/// no file names. A file a live message carries stays.
#[tokio::test]
async fn the_sweeper_removes_what_nobody_can_read_and_keeps_the_rest() {
    let mut config = natter_testkit::gateway_config();
    config.files.unattached_file_secs = 2;
    config.files.file_sweep_secs = 1;
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let (_, never) = alice.upload("never.txt", b"never attached".to_vec()).await;
    let (_, kept) = alice
        .upload("kept.txt", b"attached and shown".to_vec())
        .await;
    let (_, gone) = alice
        .upload("gone.txt", b"attached, then deleted".to_vec())
        .await;
    for (id, file) in [("k", &kept), ("g", &gone)] {
        let (status, body) = alice
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"body": id, "client_msg_id": id, "attachment_ids": [file_id(file)]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let page = wait_history(&alice, room, 2).await;
    let deleted = page
        .iter()
        .find(|m| m["body"] == "g")
        .and_then(|m| m["id"].as_str())
        .expect("the message");
    assert!(
        alice
            .delete(&format!("/v1/messages/{deleted}"))
            .await
            .0
            .is_success()
    );
    // Bytes no event names (as a crash between storing and recording would leave them).
    let orphan = Uuid::now_v7();
    let dir = s.env.upload_dir().join("files");
    std::fs::write(dir.join(orphan.to_string()), b"orphaned").expect("an orphan");

    let pool = s.env.pool().await;
    let removed = |id: Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
                "SELECT removed_at FROM files WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("the file")
            .is_some()
        }
    };
    let (never_id, gone_id, kept_id) = (file_id(&never), file_id(&gone), file_id(&kept));
    natter_testkit::wait_until("the sweep", std::time::Duration::from_secs(20), || async {
        (removed(never_id).await
            && removed(gone_id).await
            && !dir.join(orphan.to_string()).exists())
        .then_some(())
    })
    .await;
    for id in [never_id, gone_id] {
        assert!(!dir.join(id.to_string()).exists(), "{id}'s bytes are gone");
        assert_eq!(
            alice.fetch(&format!("/v1/files/{id}"), None).await.0,
            StatusCode::NOT_FOUND
        );
    }
    assert!(!removed(kept_id).await && dir.join(kept_id.to_string()).exists());
    assert_eq!(
        alice.fetch(&format!("/v1/files/{kept_id}"), None).await.0,
        StatusCode::OK
    );
    // Each removal is in the log, with its reason.
    let reasons: Vec<String> = {
        let bus = s.env.bus().await;
        let mut reasons = Vec::new();
        for (_, event) in natter_testkit::log_events(&bus).await {
            if let natter_schemas::EventBody::FileRemoved(r) = event.body {
                reasons.push(format!("{}:{:?}", r.file_id, r.reason));
            }
        }
        reasons
    };
    assert!(
        reasons.contains(&format!("{never_id}:NeverAttached")),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&format!("{gone_id}:NoLongerShown")),
        "{reasons:?}"
    );
    assert_eq!(reasons.len(), 2, "each recorded once: {reasons:?}");
    pool.close().await;
    s.natter.stop().await;
    s.env.cleanup().await;
}
