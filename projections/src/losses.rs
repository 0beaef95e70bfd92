//! Posting losses: the events that took a user's (or everyone's) right to post in a room, kept
//! by each read model in a table of its own, so that each voids the posts the log's void rule
//! voids ([`natter_schemas::event::MessagePosted::void_given`]) and is still rebuilt alone.

use natter_schemas::Event;
use natter_schemas::posting::PostingLoss;
use sqlx::PgConnection;

use crate::seq_i64;

/// Records `event`'s posting loss in `table`, if it is one; true when it is.
pub(crate) async fn record(
    conn: &mut PgConnection,
    table: &'static str,
    seq: u64,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    let (Some(loss), Some(room)) = (event.body.posting_loss(), event.room_id) else {
        return Ok(false);
    };
    let user = match loss {
        PostingLoss::User(user) => Some(user),
        PostingLoss::Everyone => None,
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (room_id, seq, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    )))
    .bind(room)
    .bind(seq_i64(seq))
    .bind(user)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// The SQL condition "this post is void", over a post's columns as named by the arguments
/// (`checked` may be NULL: a post from before `checked_at` is never void).
pub(crate) fn void_sql(
    table: &'static str,
    room: &str,
    sender: &str,
    checked: &str,
    seq: &str,
) -> String {
    format!(
        "({checked} IS NOT NULL AND EXISTS (SELECT 1 FROM {table} l
             WHERE l.room_id = {room} AND l.seq > {checked} AND l.seq < {seq}
               AND (l.user_id IS NULL OR l.user_id = {sender})))"
    )
}

/// A post's `checked_at` as a bigint column value.
pub(crate) fn checked_at(event: &Event) -> Option<i64> {
    match &event.body {
        natter_schemas::event::EventBody::MessagePosted(p) => p.checked_at.map(seq_i64),
        _ => None,
    }
}
