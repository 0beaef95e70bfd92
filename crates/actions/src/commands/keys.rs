//! The device key directory of end-to-end encryption: a device publishes (or replaces) a
//! public key under its owner, or withdraws it. Each is one event on the owner's subject
//! (`device.key_published`, `device.key_revoked`), answered once the read model has it: a
//! retry publishes the same key again (the directory keeps one per id) or finds it gone.

use natter_projections::history::queries;
use natter_schemas::event::EventBody;
use natter_schemas::keys::{KeyList, KeyPublished, KeyRevoked, PublishKeyRequest};
use uuid::Uuid;

use super::people::append_own;
use crate::Actions;
use crate::error::{ApiError, ApiResult};
use crate::validate;

/// Most keys one user keeps published.
const MAX_KEYS: usize = 100;
/// Longest public key, as encoded by the client.
const MAX_PUBLIC_KEY: usize = 4096;

/// `actor` publishes `key_id`; their keys now.
pub async fn publish(
    state: &Actions,
    actor: Uuid,
    key_id: String,
    req: PublishKeyRequest,
) -> ApiResult<KeyList> {
    validate::key_id("key_id", &key_id)?;
    let algorithm_ok = (1..=32).contains(&req.algorithm.len())
        && req
            .algorithm
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !algorithm_ok {
        return Err(ApiError::invalid(
            "algorithm",
            "1 to 32 letters, digits, `-` or `_` (x25519, ed25519, ...)",
        ));
    }
    if req.public_key.is_empty()
        || req.public_key.len() > MAX_PUBLIC_KEY
        || req.public_key.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            "public_key",
            format!("1 to {MAX_PUBLIC_KEY} printable characters"),
        ));
    }
    let keys = queries::user_keys(state.pool(), actor).await?;
    if keys.len() >= MAX_KEYS && !keys.iter().any(|k| k.key_id == key_id) {
        return Err(ApiError::invalid(
            "key_id",
            format!("at most {MAX_KEYS} keys: withdraw some first"),
        ));
    }
    let body = EventBody::KeyPublished(KeyPublished {
        key_id,
        algorithm: req.algorithm,
        public_key: req.public_key,
    });
    append_own(state, actor, body).await?;
    Ok(KeyList {
        keys: queries::user_keys(state.pool(), actor).await?,
    })
}

/// `actor` withdraws `key_id` (`not_found` when they have none of that id).
pub async fn revoke(state: &Actions, actor: Uuid, key_id: String) -> ApiResult<()> {
    validate::key_id("key_id", &key_id)?;
    let keys = queries::user_keys(state.pool(), actor).await?;
    if !keys.iter().any(|k| k.key_id == key_id) {
        return Err(ApiError::not_found("key"));
    }
    append_own(state, actor, EventBody::KeyRevoked(KeyRevoked { key_id })).await?;
    Ok(())
}
