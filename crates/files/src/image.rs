//! Images: their metadata stripped (EXIF with its GPS position, XMP, text chunks) without
//! re-encoding the pixels, their size read, and a thumbnail made, within limits.
//!
//! Decoding is CPU-heavy and takes memory in proportion to the pixels, not the bytes (a
//! few kilobytes of PNG can claim a gigapixel): the header's dimensions are checked against a
//! pixel limit before anything is decoded, the decoder is given an allocation limit, and
//! callers run this off the async runtime, a couple at a time.

use std::io::Cursor;

use bytes::Bytes;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use img_parts::ImageEXIF;

use crate::sniff::ImageKind;

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;

/// What a decode may take.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Most pixels (width × height) an image may have to be decoded.
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate.
    pub max_alloc: u64,
}

/// An image, ready to store.
#[derive(Debug)]
pub struct Processed {
    /// The image's bytes without its metadata (turned upright when its EXIF said it was
    /// rotated: the orientation goes with the metadata); `None` when its container could not
    /// be read, so the metadata could not be taken out: it must not be stored as an image.
    pub bytes: Option<Bytes>,
    /// Its size, when it could be read and is within the limits.
    pub size: Option<(u32, u32)>,
    /// A thumbnail, when the image could be decoded.
    pub thumbnail: Option<Thumbnail>,
}

#[derive(Debug)]
pub struct Thumbnail {
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
    pub content_type: &'static str,
}

/// Strips `bytes`' metadata and makes its thumbnail. An image that cannot be decoded, or is
/// past the limits, is kept as it is (stripped, if its container could be read) with no size
/// and no thumbnail: it is still a file.
pub fn process(kind: ImageKind, bytes: Bytes, limits: ImageLimits) -> Processed {
    let stripped = strip(kind, bytes.clone());
    // A decoder that panics (malicious input) costs the thumbnail, not the stripped bytes.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        thumbnail(kind, &bytes, limits)
    }));
    match decoded {
        Ok(Ok(done)) => Processed {
            // Turned upright, the pixels were re-encoded (without metadata).
            bytes: done.upright.or(stripped),
            size: Some(done.size),
            thumbnail: Some(done.thumbnail),
        },
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "no thumbnail");
            Processed {
                bytes: stripped,
                size: None,
                thumbnail: None,
            }
        }
        Err(_) => {
            tracing::warn!("an image decoder panicked; the image is kept without a thumbnail");
            Processed {
                bytes: stripped,
                size: None,
                thumbnail: None,
            }
        }
    }
}

/// What decoding an image gave.
struct Decoded {
    size: (u32, u32),
    thumbnail: Thumbnail,
    /// The image re-encoded upright, when its EXIF orientation turned it.
    upright: Option<Bytes>,
}

/// The image without its metadata; `None` when its container cannot be read.
fn strip(kind: ImageKind, bytes: Bytes) -> Option<Bytes> {
    match kind {
        ImageKind::Jpeg => {
            use img_parts::jpeg::{Jpeg, markers};
            let mut jpeg = Jpeg::from_bytes(bytes).ok()?;
            // APP1: EXIF and XMP; APP13: IPTC; COM: comments. The colour profile (APP2)
            // and the JFIF/Adobe headers stay.
            for marker in [markers::APP1, markers::APP13, markers::COM] {
                jpeg.remove_segments_by_marker(marker);
            }
            Some(jpeg.encoder().bytes())
        }
        ImageKind::Png => {
            let mut png = img_parts::png::Png::from_bytes(bytes).ok()?;
            for kind in [*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"] {
                png.remove_chunks_by_type(kind);
            }
            Some(png.encoder().bytes())
        }
        ImageKind::Webp => {
            let mut webp = img_parts::webp::WebP::from_bytes(bytes).ok()?;
            webp.set_exif(None);
            webp.remove_chunks_by_id(*b"XMP ");
            Some(webp.encoder().bytes())
        }
        // GIF carries no EXIF; its comments are left.
        ImageKind::Gif => Some(bytes),
    }
}

/// Why no thumbnail was made.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("{width}x{height} is more than {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("cannot decode the image: {0}")]
    Decode(#[from] image::ImageError),
}

fn format_of(kind: ImageKind) -> ImageFormat {
    match kind {
        ImageKind::Png => ImageFormat::Png,
        ImageKind::Jpeg => ImageFormat::Jpeg,
        ImageKind::Gif => ImageFormat::Gif,
        ImageKind::Webp => ImageFormat::WebP,
    }
}

/// The image's size (as shown, after its EXIF orientation) and its thumbnail.
fn thumbnail(
    kind: ImageKind,
    bytes: &[u8],
    limits: ImageLimits,
) -> Result<Decoded, ThumbnailError> {
    let reader = |bytes| {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format_of(kind));
        let mut decode = Limits::default();
        decode.max_alloc = Some(limits.max_alloc);
        reader.limits(decode);
        reader
    };
    let (width, height) = reader(bytes).into_dimensions()?;
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ThumbnailError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    let mut decoder = reader(bytes).into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    let turned = orientation != image::metadata::Orientation::NoTransforms;
    image.apply_orientation(orientation);
    let shown = (image.width(), image.height());
    let small = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let (bytes, content_type) = encode(kind, &small, 80)?;
    let upright = if turned {
        Some(encode(kind, &image, 90)?.0)
    } else {
        None
    };
    Ok(Decoded {
        size: shown,
        thumbnail: Thumbnail {
            bytes,
            width: small.width(),
            height: small.height(),
            content_type,
        },
        upright,
    })
}

/// `image` encoded as JPEG (for a JPEG: smaller) or PNG (the rest may have transparency).
fn encode(
    kind: ImageKind,
    image: &DynamicImage,
    quality: u8,
) -> Result<(Bytes, &'static str), ThumbnailError> {
    let mut out = Cursor::new(Vec::new());
    let content_type = if kind == ImageKind::Jpeg {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
        image.to_rgb8().write_with_encoder(encoder)?;
        "image/jpeg"
    } else {
        image.write_to(&mut out, ImageFormat::Png)?;
        "image/png"
    };
    Ok((Bytes::from(out.into_inner()), content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ImageLimits = ImageLimits {
        max_pixels: 50_000_000,
        max_alloc: 512 * 1024 * 1024,
    };

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let image = DynamicImage::new_rgb8(width, height);
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    /// A JPEG with an EXIF segment (holding a GPS-like marker) right after SOI.
    fn jpeg_with_exif() -> Vec<u8> {
        let plain = encoded(640, 480, ImageFormat::Jpeg);
        let payload = b"Exif\0\0GPS-SECRET-POSITION";
        let len = u16::try_from(payload.len() + 2).expect("short");
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[test]
    fn metadata_is_stripped_and_a_thumbnail_made() {
        let bytes = jpeg_with_exif();
        assert!(bytes.windows(10).any(|w| w == b"GPS-SECRET"));
        let done = process(ImageKind::Jpeg, Bytes::from(bytes), LIMITS);
        let stored = done.bytes.clone().expect("stripped");
        assert!(!stored.windows(10).any(|w| w == b"GPS-SECRET"), "EXIF gone");
        assert_eq!(done.size, Some((640, 480)));
        let thumb = done.thumbnail.expect("a thumbnail");
        assert_eq!((thumb.width, thumb.height), (320, 240));
        assert_eq!(thumb.content_type, "image/jpeg");
        // The stripped image still decodes.
        let again = image::load_from_memory(&stored).expect("decodes");
        assert_eq!((again.width(), again.height()), (640, 480));
    }

    #[test]
    fn a_png_keeps_its_pixels_and_gets_a_png_thumbnail() {
        let done = process(
            ImageKind::Png,
            Bytes::from(encoded(1000, 100, ImageFormat::Png)),
            LIMITS,
        );
        assert_eq!(done.size, Some((1000, 100)));
        let thumb = done.thumbnail.expect("a thumbnail");
        assert_eq!(
            (thumb.width, thumb.height, thumb.content_type),
            (320, 32, "image/png")
        );
    }

    /// CRC-32 (as PNG chunks use it).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A few hundred bytes claiming 1.6 gigapixels are not decoded: no size, no thumbnail.
    #[test]
    fn a_decompression_bomb_is_not_decoded() {
        let mut png = encoded(1, 1, ImageFormat::Png);
        // IHDR's width and height (bytes 16..24) claim 40000 x 40000, with its CRC redone.
        png[16..20].copy_from_slice(&40_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&40_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let claimed = ImageReader::with_format(Cursor::new(&png), ImageFormat::Png)
            .into_dimensions()
            .expect("a readable header");
        assert_eq!(claimed, (40_000, 40_000));
        let done = process(ImageKind::Png, Bytes::from(png), LIMITS);
        assert!(done.size.is_none() && done.thumbnail.is_none());
    }

    #[test]
    fn garbage_with_an_image_signature_is_kept_as_a_file() {
        let done = process(
            ImageKind::Png,
            Bytes::from_static(b"\x89PNG\r\n\x1a\nnot really"),
            LIMITS,
        );
        assert!(done.size.is_none() && done.thumbnail.is_none());
        assert!(
            done.bytes.is_none(),
            "not stored as an image: its metadata could not be read"
        );
    }
}
