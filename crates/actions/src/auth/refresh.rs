//! Refresh tokens: `nr1.<session>.<generation>.<expiry>.<mac>`, signed with a key derived from
//! the token secret. A refresh token is good while its session has not ended, it has not
//! expired, and its generation is the session's current one: spending it appends the next
//! generation (see [`crate::commands::sessions`]), so each is good once.

use std::time::Duration;

use natter_files::sign::{derive, tag, tag_matches};
use uuid::Uuid;

use crate::error::ApiError;

const PREFIX: &str = "nr1";

/// What a refresh token says, once its signature and expiry are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    pub session: Uuid,
    pub generation: u32,
}

#[derive(Clone)]
pub struct RefreshTokens {
    key: [u8; 32],
    ttl: Duration,
}

impl RefreshTokens {
    /// Signs with a key of its own, derived from `secret` (the access tokens' secret).
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: derive(secret, b"natter refresh tokens v1"),
            ttl,
        }
    }

    pub fn issue(&self, session: Uuid, generation: u32) -> String {
        let expires = super::now_secs().saturating_add(self.ttl.as_secs());
        let body = format!("{PREFIX}.{session}.{generation}.{expires}");
        let tag = tag(&self.key, body.as_bytes());
        format!("{body}.{tag}")
    }

    /// The token's session and generation, when it is one of ours and has not expired.
    pub fn parse(&self, token: &str) -> Result<Refresh, ApiError> {
        let bad = || ApiError::unauthorized("the refresh token is invalid");
        let (body, tag) = token.rsplit_once('.').ok_or_else(bad)?;
        if !tag_matches(&self.key, body.as_bytes(), tag) {
            return Err(bad());
        }
        let mut parts = body.split('.');
        let (Some(PREFIX), Some(session), Some(generation), Some(expires), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let expires: u64 = expires.parse().map_err(|_| bad())?;
        if expires <= super::now_secs() {
            return Err(ApiError::unauthorized(
                "the refresh token has expired: sign in again",
            ));
        }
        Ok(Refresh {
            session: session.parse().map_err(|_| bad())?,
            generation: generation.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_token_says_its_session_and_generation_and_nothing_forged_passes() {
        let tokens = RefreshTokens::new(b"secret", Duration::from_secs(60));
        let session = Uuid::now_v7();
        let token = tokens.issue(session, 3);
        assert_eq!(
            tokens.parse(&token).expect("good"),
            Refresh {
                session,
                generation: 3
            }
        );
        let forged = token.replacen(".3.", ".4.", 1);
        assert!(tokens.parse(&forged).is_err());
        let other = RefreshTokens::new(b"other", Duration::from_secs(60));
        assert!(other.parse(&token).is_err());
        assert!(tokens.parse("nr1.x.y").is_err());
        let expired = RefreshTokens::new(b"secret", Duration::ZERO).issue(session, 0);
        assert!(tokens.parse(&expired).is_err());
    }
}
