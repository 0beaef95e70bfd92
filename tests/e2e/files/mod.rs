//! Files: uploads streamed to the store and recorded in the log, served to those who may read
//! them (Bearer or signed URL, whole or a range), carried by messages, found by search, swept
//! when nobody can read them, in a directory or an S3 store.

mod attachments;
mod memory;
mod stores;
mod uploads;

use uuid::Uuid;

/// A real PNG of about `n` bytes (noise does not compress).
pub(crate) fn png_bytes(n: usize) -> Vec<u8> {
    let side = ((n / 3) as f64).sqrt().ceil().max(1.0) as u32;
    let mut seed = 0x2545_F491u32;
    let image = image::RgbImage::from_fn(side, side, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        image::Rgb([seed as u8, (seed >> 8) as u8, (seed >> 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
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
