//! Sessions: whether a token is still good, one session's refresh state, a user's sessions.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// What decides whether a token of a user (and of a session, when it names one) is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenStanding {
    /// Tokens of no session issued before this are refused.
    pub tokens_before: Option<DateTime<Utc>>,
    /// The token's session, when the read model has it: whose it is, and whether it ended.
    pub session: Option<(Uuid, bool)>,
}

/// The standing of `user`'s tokens of `session`; None when there is no such user.
pub async fn token_standing(
    pool: &PgPool,
    user: Uuid,
    session: Option<Uuid>,
) -> Result<Option<TokenStanding>, sqlx::Error> {
    type Row = (Option<DateTime<Utc>>, Option<Uuid>, Option<bool>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT u.tokens_before, s.user_id, s.ended_at IS NOT NULL
         FROM users u LEFT JOIN sessions s ON s.id = $2
         WHERE u.id = $1",
    )
    .bind(user)
    .bind(session)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(tokens_before, owner, ended)| TokenStanding {
        tokens_before,
        session: owner.zip(ended),
    }))
}

/// One session as a refresh needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    pub user_id: Uuid,
    pub generation: u32,
    /// The seq of the last event on the session's subject (0: none).
    pub last_seq: u64,
    pub ended: bool,
}

pub async fn session_state(
    pool: &PgPool,
    session: Uuid,
) -> Result<Option<SessionState>, sqlx::Error> {
    let row: Option<(Uuid, i32, i64, bool)> = sqlx::query_as(
        "SELECT user_id, generation, last_seq, ended_at IS NOT NULL FROM sessions WHERE id = $1",
    )
    .bind(session)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(user_id, generation, last_seq, ended)| SessionState {
            user_id,
            generation: u32::try_from(generation).unwrap_or(0),
            last_seq: u64::try_from(last_seq).unwrap_or(0),
            ended,
        }),
    )
}

/// `user`'s sessions that have not ended, newest first: `(id, device, created_at)`.
pub async fn live_sessions(
    pool: &PgPool,
    user: Uuid,
) -> Result<Vec<(Uuid, Option<String>, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, device, created_at FROM sessions
         WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at DESC LIMIT 1000",
    )
    .bind(user)
    .fetch_all(pool)
    .await
}

/// What `session` was begun from, when it said.
pub async fn session_device(pool: &PgPool, session: Uuid) -> Result<Option<String>, sqlx::Error> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("SELECT device FROM sessions WHERE id = $1")
            .bind(session)
            .fetch_optional(pool)
            .await?
            .flatten(),
    )
}
