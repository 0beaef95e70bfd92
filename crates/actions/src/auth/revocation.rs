//! Whether a token is still good: its user exists, and its session has not ended (or, for a
//! token of no session here, it was issued after the user's last "end every session").
//!
//! That is state in the log (`session.*`, `user.sessions_ended`, `user.password_changed`),
//! projected into the history read model and cached here for at most the configured bound
//! (`NATTER_REVOCATION_CACHE_MS`): a token ended through another gateway is refused here
//! within that bound; through this gateway, at once (the command forgets the user's entries
//! once the end is projected). Open sockets do not wait for the bound: the ending event is
//! delivered to the user's sockets, which close with 4001.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use natter_projections::history::queries::{self, TokenStanding};
use sqlx::PgPool;
use uuid::Uuid;

use super::TokenRef;
use crate::error::ApiError;

/// Most entries cached; past it the cache starts over.
const MAX_ENTRIES: usize = 200_000;

type Key = (Uuid, Option<Uuid>);

/// The cached standing of tokens, by user and session.
pub struct Revocations {
    pool: PgPool,
    bound: Duration,
    cache: RwLock<HashMap<Key, (Option<TokenStanding>, Instant)>>,
}

impl Revocations {
    pub fn new(pool: PgPool, bound: Duration) -> Self {
        Self {
            pool,
            bound,
            cache: RwLock::default(),
        }
    }

    /// How long a token ended elsewhere may still be accepted here.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// Ok when `user`'s `token` is good; `unauthorized` saying why when it is not.
    pub async fn check(&self, user: Uuid, token: TokenRef) -> Result<(), ApiError> {
        verdict(self.standing(user, token.session).await?, user, token)
    }

    /// Forgets what is cached of `user`'s tokens (after an end of theirs was projected).
    pub fn forget(&self, user: Uuid) {
        if let Ok(mut cache) = self.cache.write() {
            cache.retain(|(u, _), _| *u != user);
        }
    }

    async fn standing(
        &self,
        user: Uuid,
        session: Option<Uuid>,
    ) -> Result<Option<TokenStanding>, ApiError> {
        let key = (user, session);
        let fresh = |(standing, at): &(Option<TokenStanding>, Instant)| {
            (at.elapsed() < self.bound).then_some(*standing)
        };
        if let Some(standing) = self
            .cache
            .read()
            .ok()
            .and_then(|cache| cache.get(&key).and_then(fresh))
        {
            return Ok(standing);
        }
        let standing = queries::token_standing(&self.pool, user, session).await?;
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(key, (standing, Instant::now()));
        }
        Ok(standing)
    }
}

/// Whether a token is good, given its user's standing.
fn verdict(standing: Option<TokenStanding>, user: Uuid, token: TokenRef) -> Result<(), ApiError> {
    let Some(standing) = standing else {
        return Err(ApiError::unauthorized("the token's user does not exist"));
    };
    match standing.session {
        Some((owner, _)) if owner != user => Err(ApiError::unauthorized("the token is invalid")),
        Some((_, true)) => Err(ApiError::unauthorized(
            "the token's session has ended: sign in again",
        )),
        Some((_, false)) => Ok(()),
        None => match standing.tokens_before {
            Some(before) if i64::try_from(token.issued).unwrap_or(0) <= before.timestamp() => Err(
                ApiError::unauthorized("the token was revoked: sign in again"),
            ),
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_sessions_and_earlier_tokens_are_refused() {
        let (user, other, sid) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let token = |issued| TokenRef {
            session: Some(sid),
            issued,
        };
        let at = |secs| chrono::DateTime::from_timestamp(secs, 0);
        let standing = |session, before| {
            Some(TokenStanding {
                tokens_before: before,
                session,
            })
        };
        assert!(verdict(None, user, token(5)).is_err(), "no such user");
        assert!(verdict(standing(Some((user, false)), at(10)), user, token(5)).is_ok());
        assert!(verdict(standing(Some((user, true)), None), user, token(5)).is_err());
        assert!(verdict(standing(Some((other, false)), None), user, token(5)).is_err());
        // No session here: only the time it was issued tells.
        assert!(verdict(standing(None, None), user, token(5)).is_ok());
        assert!(verdict(standing(None, at(10)), user, token(10)).is_err());
        assert!(verdict(standing(None, at(10)), user, token(11)).is_ok());
    }
}
