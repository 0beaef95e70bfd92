//! Files: uploads streamed to the store and recorded in the log, served to those who may read
//! them (Bearer or signed URL, whole or a range), carried by messages, found by search.

use natter_testkit::{Api, Ws};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::{Setup, wait_history};

/// The start of a PNG, then some bytes: natter knows a PNG by its signature.
fn png_bytes(n: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..n).map(|i| (i % 251) as u8));
    bytes
}

fn file_id(body: &serde_json::Value) -> Uuid {
    body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id")
}

fn url(body: &serde_json::Value) -> String {
    body["url"].as_str().expect("a url").to_owned()
}

/// An upload is detected from its bytes (not the client's type), named without its path, and
/// served to its uploader and to whoever holds its signed URL, never to anyone else.
#[tokio::test]
async fn an_upload_is_detected_stored_and_served_only_to_who_may_read_it() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let bytes = png_bytes(100_000);
    let (status, file) = alice.upload("../../holiday/cat.png", bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!(file["name"], "cat.png");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(
        file["content_type"], "image/png",
        "from the bytes, not the client's text/html"
    );
    let id = file_id(&file);
    let signed = url(&file);
    assert!(
        signed.starts_with(&format!("/v1/files/{id}?exp=")),
        "{signed}"
    );

    // The uploader, with a token.
    let (status, headers, body) = alice.fetch(&format!("/v1/files/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap_or_default()
            .starts_with("inline")
    );
    // Anyone else with a token: as if there were no such file.
    let (status, _, _) = bob.fetch(&format!("/v1/files/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nobody without a token or a signature.
    let anon = Api::anonymous(&s.natter.base);
    let (status, _, _) = anon.fetch(&format!("/v1/files/{id}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Whoever holds the signed URL, without a token; a forged or stretched one is nothing.
    let (status, _, body) = anon.fetch(&signed, None).await;
    assert_eq!((status, body.len()), (StatusCode::OK, bytes.len()));
    let forged = format!("{}x", &signed[..signed.len() - 1]);
    assert_eq!(anon.fetch(&forged, None).await.0, StatusCode::NOT_FOUND);
    let stretched = signed.replace("exp=", "exp=9");
    assert_eq!(anon.fetch(&stretched, None).await.0, StatusCode::NOT_FOUND);

    // Ranges: one range is 206 with exactly its bytes; past the end is 416.
    let (status, headers, body) = anon.fetch(&signed, Some("bytes=10-19")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, bytes[10..20]);
    assert_eq!(
        headers["content-range"],
        format!("bytes 10-19/{}", bytes.len()).as_str()
    );
    let (status, _, body) = anon.fetch(&signed, Some("bytes=-5")).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &bytes[bytes.len() - 5..])
    );
    let past = format!("bytes={}-", bytes.len());
    assert_eq!(
        anon.fetch(&signed, Some(&past)).await.0,
        StatusCode::RANGE_NOT_SATISFIABLE
    );
    s.natter.stop().await;
    s.env.cleanup().await;
}

/// A real image: its size is read, its EXIF (with whatever position it holds) is stripped
/// from the stored bytes, and a thumbnail of at most 320 px is made and served.
#[tokio::test]
async fn an_image_loses_its_metadata_and_gets_a_thumbnail() {
    use image::{DynamicImage, ImageFormat};
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let mut jpeg = std::io::Cursor::new(Vec::new());
    DynamicImage::new_rgb8(800, 600)
        .write_to(&mut jpeg, ImageFormat::Jpeg)
        .expect("encode");
    let plain = jpeg.into_inner();
    // An EXIF segment right after the start of the image.
    let exif = b"Exif\0\0GPS 52.5200 N 13.4050 E";
    let mut photo = plain[..2].to_vec();
    photo.extend_from_slice(&[0xFF, 0xE1]);
    photo.extend_from_slice(&u16::try_from(exif.len() + 2).expect("short").to_be_bytes());
    photo.extend_from_slice(exif);
    photo.extend_from_slice(&plain[2..]);

    let (status, file) = alice.upload("IMG_0001.jpg", photo).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(800), Some(600))
    );
    let (_, headers, stored) = alice.fetch(&url(&file), None).await;
    assert_eq!(headers["content-type"], "image/jpeg");
    assert!(
        !stored.windows(3).any(|w| w == b"GPS"),
        "the position is gone"
    );
    assert_eq!(file["size"], stored.len(), "the size is what is stored");
    let thumbnail_url = file["thumbnail_url"].as_str().expect("a thumbnail");
    let (status, headers, thumb) = Api::anonymous(&s.natter.base)
        .fetch(thumbnail_url, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/jpeg");
    let small = image::load_from_memory(&thumb).expect("a thumbnail that decodes");
    assert_eq!((small.width(), small.height()), (320, 240));
    // A thumbnail URL is for the thumbnail only.
    let forged = thumbnail_url.replace("/thumbnail", "");
    assert_eq!(alice.fetch(&forged, None).await.0, StatusCode::NOT_FOUND);
    s.natter.stop().await;
    s.env.cleanup().await;
}

/// A page or a script uploaded as a file is served as a download, never as a page of
/// natter's origin; an empty file or a missing field is refused.
#[tokio::test]
async fn pages_are_never_served_inline() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let page = b"<!doctype html><script>alert(document.cookie)</script>".to_vec();
    let (status, file) = alice.upload("evil.html", page).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let (_, headers, _) = alice.fetch(&url(&file), None).await;
    assert_eq!(
        headers["content-type"], "application/octet-stream",
        "{file}"
    );
    let disposition = headers["content-disposition"].to_str().unwrap_or_default();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap_or_default()
            .contains("sandbox")
    );
    let (status, body) = alice.upload("empty.txt", Vec::new()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    s.natter.stop().await;
    s.env.cleanup().await;
}

/// Past the upload limit: 413, and nothing is recorded or left in the store.
#[tokio::test]
async fn an_upload_past_the_limit_is_refused_and_leaves_nothing() {
    let mut config = natter_testkit::gateway_config();
    config.files.max_upload_bytes = 64 * 1024;
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let (status, body) = alice.upload("big.bin", vec![7u8; 200 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let pool = s.env.pool().await;
    let files: i64 = sqlx::query_scalar("SELECT count(*) FROM files")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(files, 0, "nothing recorded");
    let stored = std::fs::read_dir(s.env.upload_dir().join("files"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "nothing left in the store");
    // Just under the limit is fine.
    let (status, _) = alice.upload("ok.bin", vec![7u8; 60 * 1024]).await;
    assert_eq!(status, StatusCode::CREATED);
    pool.close().await;
    s.natter.stop().await;
    s.env.cleanup().await;
}

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

/// With an S3 bucket configured (a local stand-in here), files live there: uploaded in
/// parts when large, served whole and in ranges, removed by the sweeper; nothing is written
/// to the upload directory.
#[tokio::test]
async fn files_live_in_an_s3_store_when_configured() {
    let s3 = natter_testkit::PrivateS3::start().await;
    let mut config = natter_testkit::gateway_config();
    config.files.store = s3.store_config();
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    // Over one part (5 MiB): a multipart upload.
    let big: Vec<u8> = (0..7 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    let (status, file) = alice.upload("big.bin", big.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let (status, _, body) = alice.fetch(&url(&file), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body == big,
        "the same bytes back ({} of {})",
        body.len(),
        big.len()
    );
    let (status, _, body) = alice
        .fetch(&url(&file), Some("bytes=6000000-6000009"))
        .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, big[6_000_000..6_000_010]);
    let (status, small) = alice.upload("small.txt", b"hello s3".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    assert_eq!(alice.fetch(&url(&small), None).await.2, b"hello s3");
    assert!(
        !s.env.upload_dir().exists(),
        "nothing in the upload directory"
    );
    s.natter.stop().await;
    s.env.cleanup().await;
}
