//! Sessions in the history read model: sign-ins, refreshes, and their ends (one at a time,
//! ended by the session itself, all of a user's at once, or by a password change).

use chrono::{DateTime, Utc};
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::sessions::{EndReason, SessionStarted};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::seq_i64;

/// Applies a session or password event; false for any other event.
pub(crate) async fn apply_session_event(
    conn: &mut PgConnection,
    seq: u64,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    let (user, at) = (event.actor_id, event.occurred_at);
    match &event.body {
        // On the session's own subject: its seq is the subject's last.
        EventBody::SessionStarted(s) => started(conn, user, s, at, seq_i64(seq)).await?,
        EventBody::SessionRefreshed(r) => {
            sqlx::query(
                "UPDATE sessions SET generation = GREATEST(generation, $2), last_seq = $3
                 WHERE id = $1 AND user_id = $4",
            )
            .bind(r.session_id)
            .bind(i32::try_from(r.generation).unwrap_or(i32::MAX))
            .bind(seq_i64(seq))
            .bind(user)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::SessionEnded(e) => {
            sqlx::query(
                "UPDATE sessions SET ended_at = COALESCE(ended_at, $2),
                        ended_reason = COALESCE(ended_reason, $3), last_seq = $4
                 WHERE id = $1 AND user_id = $5",
            )
            .bind(e.session_id)
            .bind(at)
            .bind(e.reason.as_str())
            .bind(seq_i64(seq))
            .bind(user)
            .execute(&mut *conn)
            .await?;
        }
        EventBody::SessionsEnded(e) => {
            end_all_before(conn, user, e.before, e.keep, e.reason).await?;
        }
        EventBody::PasswordChanged(p) => {
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user)
                .bind(p.credentials.password_hash())
                .execute(&mut *conn)
                .await?;
            end_all_before(conn, user, at, None, EndReason::PasswordChanged).await?;
            // Nothing is on the new session's subject yet.
            started(conn, user, &p.session, at, 0).await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

async fn started(
    conn: &mut PgConnection,
    user: Uuid,
    s: &SessionStarted,
    at: DateTime<Utc>,
    last_seq: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, device, created_at, last_seq)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(s.session_id)
    .bind(user)
    .bind(&s.device)
    .bind(at)
    .bind(last_seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ends `user`'s sessions begun before `before` (but `keep`), and refuses their tokens of no
/// session issued before then.
async fn end_all_before(
    conn: &mut PgConnection,
    user: Uuid,
    before: DateTime<Utc>,
    keep: Option<Uuid>,
    reason: EndReason,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH ended AS (
             UPDATE sessions SET ended_at = $2, ended_reason = $4
             WHERE user_id = $1 AND ended_at IS NULL AND created_at <= $2
               AND id IS DISTINCT FROM $3)
         UPDATE users SET tokens_before = GREATEST(tokens_before, $2) WHERE id = $1",
    )
    .bind(user)
    .bind(before)
    .bind(keep)
    .bind(reason.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
