//! Input validation: every rule in one place, each failure an `invalid` error naming the field.

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

pub fn password(raw: &str) -> Result<(), ApiError> {
    let n = raw.chars().count();
    if (8..=256).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "password",
            "password must be 8 to 256 characters",
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
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(value.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_bounded() {
        assert_eq!(username(" Alice_1 ").ok().as_deref(), Some("alice_1"));
        assert!(username("ab").is_err());
        assert!(username("a.b.c").is_err());
        assert!(username(&"a".repeat(33)).is_err());
    }

    #[test]
    fn bodies_must_have_content_and_fit() {
        assert!(body("   ", 10).is_err());
        assert_eq!(
            body(&"x".repeat(11), 10).expect_err("too long").code(),
            natter_schemas::ErrorCode::PayloadTooLarge
        );
        assert_eq!(body(" hi ", 10).ok().as_deref(), Some(" hi "));
    }
}
