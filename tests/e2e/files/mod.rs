//! Files: uploads streamed to the store and recorded in the log, served to those who may read
//! them (Bearer or signed URL, whole or a range), carried by messages, found by search, swept
//! when nobody can read them, in a directory or an S3 store.

mod attachments;
mod stores;
mod uploads;

use uuid::Uuid;

/// The start of a PNG, then some bytes: natter knows a PNG by its signature.
pub(crate) fn png_bytes(n: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..n).map(|i| (i % 251) as u8));
    bytes
}

pub(crate) fn file_id(body: &serde_json::Value) -> Uuid {
    body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id")
}

pub(crate) fn url(body: &serde_json::Value) -> String {
    body["url"].as_str().expect("a url").to_owned()
}
