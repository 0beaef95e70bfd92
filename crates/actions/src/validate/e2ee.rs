//! What an end-to-end encrypted message may be: an opaque payload from a named device key,
//! with no body of its own, only in rooms made for it.

use natter_schemas::keys::Encrypted;
use natter_schemas::text::Format;

use crate::error::ApiError;

/// Longest `device_key_id` (and key id in the directory).
pub const MAX_KEY_ID: usize = 128;

/// Whether `id` is a usable key id: 1 to 128 letters, digits, `.`, `_`, `:` or `-`.
pub fn key_id(field: &str, id: &str) -> Result<(), ApiError> {
    let ok = (1..=MAX_KEY_ID).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "a key id is 1 to 128 letters, digits, `.`, `_`, `:` or `-`",
        ))
    }
}

/// A send's or an edit's encrypted content, checked: not empty, not larger than the largest
/// body could be once encrypted and encoded (4 bytes a character, twice, and some room), from a
/// named key; and then no body or Markdown beside it.
pub fn encrypted(
    encrypted: Option<&Encrypted>,
    body: &str,
    format: Format,
    max_chars: usize,
) -> Result<Option<Encrypted>, ApiError> {
    let Some(e) = encrypted else {
        return Ok(None);
    };
    let max_bytes = max_chars.saturating_mul(8).saturating_add(1024);
    if e.ciphertext.is_empty() || e.ciphertext.contains('\0') {
        return Err(ApiError::invalid(
            "encrypted.ciphertext",
            "the ciphertext must not be empty (nor hold NUL)",
        ));
    }
    if e.ciphertext.len() > max_bytes {
        return Err(ApiError::too_large(format!(
            "the ciphertext is longer than {max_bytes} bytes"
        )));
    }
    key_id("encrypted.device_key_id", &e.device_key_id)?;
    if !body.is_empty() {
        return Err(ApiError::invalid(
            "body",
            "an encrypted message has no body: its content is `encrypted`",
        ));
    }
    if !format.is_plain() {
        return Err(ApiError::invalid(
            "format",
            "the server cannot render an encrypted message: leave `format` out",
        ));
    }
    Ok(Some(e.clone()))
}

/// Encrypted content in an end-to-end encrypted room, and only there.
pub fn encrypted_here(room_e2ee: bool, encrypted: bool) -> Result<(), ApiError> {
    match (room_e2ee, encrypted) {
        (true, false) => Err(ApiError::invalid(
            "encrypted",
            "this room is end-to-end encrypted: send `encrypted` content, not a `body`",
        )),
        (false, true) => Err(ApiError::invalid(
            "encrypted",
            "only end-to-end encrypted rooms take `encrypted` content",
        )),
        _ => Ok(()),
    }
}
