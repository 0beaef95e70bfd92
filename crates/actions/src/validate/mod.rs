//! Input validation: every rule in one place, each failure an `invalid` error naming the field.
//! Longer than 400 lines: one job (kept together so that no rule is written twice), a little
//! past.

mod e2ee;
mod shape;

pub use e2ee::{encrypted, encrypted_here, key_id};
pub use shape::fit;

use crate::error::ApiError;

/// Lowercased; 3 to 32 of `a-z 0-9 _ -`.
pub fn username(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim().to_lowercase();
    let ok = (3..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(name)
    } else {
        Err(ApiError::invalid(
            "username",
            "username must be 3 to 32 characters: letters, digits, _ and -",
        ))
    }
}

pub fn password(field: &str, raw: &str) -> Result<(), ApiError> {
    let n = raw.chars().count();
    if (8..=256).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("{field} must be 8 to 256 characters"),
        ))
    }
}

/// Trimmed text of `min..=max` characters without control characters.
pub fn text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let value = raw.trim();
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be {min} to {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c))
    {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not contain control or text-direction characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Bidirectional embeddings, overrides and isolates: they reorder the text around them, so
/// `abc\u{202E}gpj.exe` shows as `abcexe.jpg`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing (or a blank) wherever they stand, and direction marks: in a
/// name they only serve to fake an empty or look-alike one.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2060}'..='\u{2064}' | '\u{2800}' | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}'
    ) || is_bidi_control(c)
}

/// Characters that change the one before them and show nothing alone.
fn is_modifier(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Tag characters: only the tail of a subdivision flag (`🏴` + tags + cancel tag).
fn is_tag(c: char) -> bool {
    matches!(c, '\u{E0020}'..='\u{E007F}')
}

/// A name people are shown (display names, room names): [`text`], without invisible
/// characters or direction controls and marks; joiners only between two characters outside
/// ASCII (emoji sequences, scripts that need them), variation selectors only after a
/// character, tags only in a flag. Something in it must show.
pub fn name(field: &str, raw: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let value = text(field, raw, min, max)?;
    let chars: Vec<char> = value.chars().collect();
    let joiner = |c: char| c == '\u{200C}' || c == '\u{200D}';
    let hidden = |c: char| is_invisible(c) || joiner(c) || is_modifier(c) || is_tag(c);
    let shows = |c: &char| !c.is_whitespace() && !hidden(*c);
    let placed = chars.iter().enumerate().all(|(i, &c)| {
        let before = i.checked_sub(1).map(|p| chars[p]);
        let after = chars.get(i + 1).copied();
        if joiner(c) {
            before.is_some_and(|b| !b.is_ascii() && !hidden(b))
                && after.is_some_and(|a| !a.is_ascii() && !hidden(a))
        } else if is_modifier(c) {
            before.is_some_and(|b| shows(&b))
        } else if is_tag(c) {
            before.is_some_and(|b| b == '\u{1F3F4}' || is_tag(b))
        } else {
            !is_invisible(c)
        }
    });
    if !placed || !chars.iter().any(shows) {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not contain invisible or text-direction characters"),
        ));
    }
    Ok(value)
}

/// A message body: not blank, at most `max` characters (longer is `payload_too_large`).
/// Kept as sent (leading and trailing whitespace included) apart from those checks.
pub fn body(raw: &str, max: usize) -> Result<String, ApiError> {
    if raw.trim().is_empty() {
        return Err(ApiError::invalid("body", "body must not be empty"));
    }
    if raw.chars().count() > max {
        return Err(ApiError::too_large(format!(
            "body is longer than {max} characters"
        )));
    }
    if raw.contains('\0') {
        return Err(ApiError::invalid("body", "body must not contain NUL"));
    }
    // Terminals act on control characters (ESC sequences colour text and set titles, U+009B
    // is CSI to many): a body holds none but tab, newline and carriage return.
    if raw
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ApiError::invalid(
            "body",
            "body must not contain control characters (but tab and newline)",
        ));
    }
    if raw.chars().any(natter_schemas::text::is_override) {
        return Err(ApiError::invalid(
            "body",
            "body must not contain text-direction overrides (U+202D, U+202E): use isolates",
        ));
    }
    Ok(raw.to_owned())
}

/// 1 to 64 printable ASCII characters, no spaces.
pub fn client_msg_id(raw: &str) -> Result<(), ApiError> {
    if (1..=64).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "client_msg_id",
            "client_msg_id must be 1 to 64 printable ASCII characters without spaces",
        ))
    }
}

/// History page size: default 50, at most 100.
pub fn limit(raw: Option<usize>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(50),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", "limit must be 1 to 100")),
    }
}

/// A reaction: one emoji of Unicode's recommended set (pictographs with their joiners,
/// variation selectors, skin tones, flags, keycaps: what keyboards offer), normalised to its
/// fully-qualified form so that `❤` and `❤️` are one reaction; or a `:shortcode:` of
/// `a-z 0-9 _ + -`. At most 32 bytes either way. Runs of emoji, other text, invisible
/// characters before or after an emoji (joiners, tags) are refused.
pub fn emoji(raw: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid(
            "emoji",
            "emoji must be one emoji (up to 32 bytes) or a :shortcode: of a-z, 0-9, _, + and -",
        )
    };
    if raw.is_empty() || raw.len() > 32 {
        return Err(bad());
    }
    if let Some(code) = raw.strip_prefix(':').and_then(|r| r.strip_suffix(':')) {
        let ok = !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_+-".contains(c));
        return if ok { Ok(raw.to_owned()) } else { Err(bad()) };
    }
    // As typed, or without the emoji-presentation selectors some keyboards leave out or add.
    let bare: String = raw.chars().filter(|c| *c != '\u{FE0F}').collect();
    emojis::get(raw)
        .or_else(|| emojis::get(&bare))
        .map(|e| e.as_str().to_owned())
        .ok_or_else(bad)
}

/// The usernames `@mentioned` in a body (see [`natter_richtext::mention_spans`]), lowercased,
/// each once, at most `max`.
pub fn mentioned_usernames(body: &str, max: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, name) in natter_richtext::mention_spans(body) {
        let name = name.to_ascii_lowercase();
        if !names.contains(&name) {
            names.push(name);
            if names.len() == max {
                break;
            }
        }
    }
    names
}

/// Refuses NUL in any string of a request (a key or a value, at any depth): PostgreSQL's text
/// cannot hold it. The error names the field (`member_ids[2]`, `a.b`).
pub fn no_nul_in(value: &serde_json::Value) -> Result<(), ApiError> {
    match nul_field(value, String::new()) {
        None => Ok(()),
        Some(field) => {
            let message = format!("{} must not contain NUL", display(&field));
            Err(ApiError::invalid(display(&field), message))
        }
    }
}

fn display(field: &str) -> &str {
    if field.is_empty() { "body" } else { field }
}

fn nul_field(value: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_field(item, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if key.contains('\0') {
                Some(path)
            } else {
                nul_field(item, path)
            }
        }),
        _ => None,
    }
}

/// Search page size: default 20, at most 50.
pub fn search_limit(raw: Option<usize>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(20),
        Some(n) if (1..=50).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", "limit must be 1 to 50")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_are_one_emoji_or_a_shortcode() {
        for ok in [
            "👍",
            "❤️",
            "👍🏽",
            "👨‍👩‍👧",
            "🇫🇷",
            "1️⃣",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            ":thumbsup:",
            ":+1:",
            "✅",
        ] {
            assert_eq!(
                emoji(ok).ok().as_deref(),
                Some(ok),
                "{ok} should be kept as is"
            );
        }
        // One reaction, however the selector was typed.
        assert_eq!(emoji("❤").ok().as_deref(), Some("❤️"));
        for bad in [
            "",
            "a",
            "hello",
            ":",
            "::",
            ":Thumbs:",
            "👍 ",
            "<b>",
            "👍👍👍",
            "©©©©",
            "\u{200D}👍",
            "👍\u{200D}",
            "👍\u{E0041}\u{E0042}",
            "\u{200D}",
            "\u{FE0F}",
        ] {
            assert!(emoji(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn mentions_are_words_after_an_at_sign() {
        assert_eq!(
            mentioned_usernames("hi @Alice and @bob_2, mail me@example.com @al @bob_2", 10),
            vec!["alice", "bob_2"]
        );
        assert_eq!(
            mentioned_usernames("(@carol) @dave-", 10),
            vec!["carol", "dave"]
        );
        assert_eq!(mentioned_usernames("@aaa @bbb @ccc", 2).len(), 2);
    }

    #[test]
    fn usernames_are_lowercased_and_bounded() {
        assert_eq!(username(" Alice_1 ").ok().as_deref(), Some("alice_1"));
        assert!(username("ab").is_err());
        assert!(username("a.b.c").is_err());
        assert!(username(&"a".repeat(33)).is_err());
    }

    #[test]
    fn names_show_what_they_are() {
        for ok in [
            "Alice",
            "Zoë Ω",
            "👨\u{200D}👩\u{200D}👧 family",
            "मिक्\u{200D}स",
            "علي",
        ] {
            assert_eq!(name("n", ok, 1, 64).ok().as_deref(), Some(ok), "{ok:?}");
        }
        for bad in [
            "abc\u{202E}gpj.exe",
            "\u{2066}x\u{2069}",
            "\u{200B}",
            "a\u{200B}b",
            "\u{200D}admin",
            "admin\u{200D}",
            "\u{3164}",
            "\u{2800}\u{2800}",
            "a\u{00AD}dmin",
            "ab\u{200D}cd",
            "\u{E0041}\u{E0042}",
            "x\u{E0041}",
            "\u{FE0F}",
            "\u{E0100}",
            "\u{17B5}",
            "a\u{061C}b",
            "a\u{200F}b",
        ] {
            assert!(name("n", bad, 1, 64).is_err(), "{bad:?} should be refused");
        }
        assert!(text("topic", "x\u{202E}y", 0, 10).is_err());
    }

    #[test]
    fn nul_is_refused_anywhere_and_named() {
        let field = |v: serde_json::Value| no_nul_in(&v).err().and_then(|e| e.0.field);
        assert_eq!(field(serde_json::json!({"a": "ok", "b": [1, "x"]})), None);
        assert_eq!(
            field(serde_json::json!({"q": "a\u{0}b"})).as_deref(),
            Some("q")
        );
        assert_eq!(
            field(serde_json::json!({"member_ids": ["x", "\u{0}"]})).as_deref(),
            Some("member_ids[1]")
        );
        assert_eq!(
            field(serde_json::json!({"a": {"b": "\u{0}"}})).as_deref(),
            Some("a.b")
        );
        assert_eq!(field(serde_json::json!("\u{0}")).as_deref(), Some("body"));
    }

    #[test]
    fn bodies_must_have_content_and_fit() {
        assert!(body("   ", 10).is_err());
        assert!(body("a\u{202E}b", 10).is_err());
        for control in ["\u{1b}[31m", "\u{7}", "\u{7f}", "\u{9b}31m", "\u{8}"] {
            assert!(body(&format!("a{control}b"), 20).is_err(), "{control:?}");
        }
        assert!(body("a\tb\r\nc", 20).is_ok());
        assert!(
            body("\u{2067}שלום\u{2069} ok", 20).is_ok(),
            "isolates are for prose"
        );
        assert_eq!(
            body(&"x".repeat(11), 10).expect_err("too long").code(),
            natter_schemas::ErrorCode::PayloadTooLarge
        );
        assert_eq!(body(" hi ", 10).ok().as_deref(), Some(" hi "));
    }
}
