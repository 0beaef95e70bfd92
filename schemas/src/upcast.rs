//! Upcasters: turn an older stored shape of an event into the current one, on the raw JSON,
//! before it is decoded into the Rust types. Replays of old logs go through here.

use serde_json::Value;

use crate::event::DecodeError;

/// Rewrites `raw` (a whole stored event) in place to the current version of its type.
pub fn upcast(raw: &mut Value) -> Result<(), DecodeError> {
    let event_type = raw
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let version = raw.get("version").and_then(Value::as_u64).unwrap_or(1);
    // Every event type is still at version 1. A future version N of a type adds a match arm
    // here, `(type, N - 1) => { rewrite data; set version N }`, applied in a loop until current.
    if version == 1 {
        Ok(())
    } else {
        Err(DecodeError::UnknownVersion {
            event_type,
            version,
        })
    }
}
