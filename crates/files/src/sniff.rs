//! What a file is, from its first bytes (never from what the client says).

/// Bytes of the start of a file that [`detect`] looks at.
pub const HEAD_BYTES: usize = 8 * 1024;

/// Image formats natter decodes (dimensions, thumbnails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Gif,
    Webp,
}

/// A file's detected type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub content_type: &'static str,
    pub image: Option<ImageKind>,
}

/// The `Content-Type` a file of `content_type` is served with: the type itself, except for
/// types a browser would run (HTML, XML, SVG, scripts), which are served as bytes.
pub fn served_type(content_type: &str) -> &str {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let active = essence.contains("html")
        || essence.contains("xml")
        || essence.contains("javascript")
        || essence.contains("ecmascript");
    if active {
        "application/octet-stream"
    } else {
        content_type
    }
}

/// Whether a type [`detect`] gave may be shown in the page (`Content-Disposition: inline`):
/// the images natter decodes, audio and video. Everything else (HTML, SVG, PDF, text,
/// unknown) is served as a download, so that a file can never run as a page of natter's
/// origin.
pub fn inline(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    ) || content_type.starts_with("video/")
        || content_type.starts_with("audio/")
}

/// The type of a file starting with `head` (at least the first [`HEAD_BYTES`] bytes, or the
/// whole file if shorter).
pub fn detect(head: &[u8]) -> Detected {
    let image = if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some((ImageKind::Png, "image/png"))
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some((ImageKind::Jpeg, "image/jpeg"))
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some((ImageKind::Gif, "image/gif"))
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some((ImageKind::Webp, "image/webp"))
    } else {
        None
    };
    if let Some((kind, content_type)) = image {
        return Detected {
            content_type,
            image: Some(kind),
        };
    }
    let content_type = match infer::get(head) {
        // Image types natter does not decode are kept as files, not shown inline.
        Some(t) if t.matcher_type() == infer::MatcherType::Image => "application/octet-stream",
        Some(t) => t.mime_type(),
        None if is_text(head) => "text/plain; charset=utf-8",
        None => "application/octet-stream",
    };
    Detected {
        content_type,
        image: None,
    }
}

/// UTF-8 without NUL or other control bytes than whitespace (a cut-off last character is
/// allowed: `head` may end inside one).
fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            // Only an incomplete character at the end.
            match std::str::from_utf8(&head[..e.valid_up_to()]) {
                Ok(s) => s,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_known_by_their_bytes() {
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n....").image, Some(ImageKind::Png));
        assert_eq!(detect(&[0xFF, 0xD8, 0xFF, 0xE0]).content_type, "image/jpeg");
        assert_eq!(detect(b"GIF89a...").content_type, "image/gif");
        assert_eq!(detect(b"RIFF\0\0\0\0WEBPVP8 ").content_type, "image/webp");
        assert!(inline(detect(b"GIF89a").content_type));
    }

    #[test]
    fn pages_and_scripts_are_never_inline() {
        for bytes in [
            &b"<!doctype html><script>alert(1)</script>"[..],
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script/></svg>",
            b"%PDF-1.7\n",
            b"\x00\x01\x02binary",
        ] {
            let d = detect(bytes);
            assert!(!inline(d.content_type), "{d:?}");
            assert!(d.image.is_none());
        }
        assert_eq!(detect(b"%PDF-1.7\n").content_type, "application/pdf");
        assert_eq!(served_type("text/html"), "application/octet-stream");
        assert_eq!(served_type("image/svg+xml"), "application/octet-stream");
        assert_eq!(served_type("application/pdf"), "application/pdf");
        assert_eq!(
            detect(b"hello\nworld").content_type,
            "text/plain; charset=utf-8"
        );
        assert_eq!(detect(b"\x00\x01").content_type, "application/octet-stream");
        // A character cut in half at the end of the head is still text.
        assert_eq!(
            detect("hé".as_bytes().split_at(2).0).content_type,
            "text/plain; charset=utf-8"
        );
    }
}
