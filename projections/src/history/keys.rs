//! Device keys in the history read model: `device.key_published` (a key replaces the one of
//! the same id) and `device.key_revoked`, one event at a time.

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use sqlx::PgConnection;

use crate::seq_i64;

/// Applies a device key event; false for any other event.
pub(crate) async fn apply_key_event(
    conn: &mut PgConnection,
    seq: u64,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    match &event.body {
        EventBody::KeyPublished(k) => {
            sqlx::query(
                "INSERT INTO device_keys (user_id, key_id, algorithm, public_key, published_at, seq)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (user_id, key_id) DO UPDATE
                     SET algorithm = excluded.algorithm, public_key = excluded.public_key,
                         published_at = excluded.published_at, seq = excluded.seq
                     WHERE device_keys.seq < excluded.seq",
            )
            .bind(event.actor_id)
            .bind(&k.key_id)
            .bind(&k.algorithm)
            .bind(&k.public_key)
            .bind(event.occurred_at)
            .bind(seq_i64(seq))
            .execute(&mut *conn)
            .await?;
            Ok(true)
        }
        EventBody::KeyRevoked(k) => {
            sqlx::query("DELETE FROM device_keys WHERE user_id = $1 AND key_id = $2 AND seq < $3")
                .bind(event.actor_id)
                .bind(&k.key_id)
                .bind(seq_i64(seq))
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
