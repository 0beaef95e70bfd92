//! Uploads and downloads: detection, who may read, ranges, images, pages, limits.

use natter_testkit::Api;
use reqwest::StatusCode;

use super::{file_id, png_bytes, url};
use crate::Setup;

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
    // What is stored: the image, its metadata taken out (this one has none to take).
    assert_eq!(file["size"], body.len());
    image::load_from_memory(&body).expect("the image decodes");
    let bytes = body;
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
