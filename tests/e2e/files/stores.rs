//! The file store: an S3-compatible bucket instead of the directory.

use reqwest::StatusCode;

use super::url;
use crate::Setup;

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
