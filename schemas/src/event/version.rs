//! Event versions: the version new events of a type are written with, and what fails when an
//! event cannot be read (its upcasters are in [`crate::upcast`]).

/// The version written for new events of type `event_type`. Bump it when the shape of a type's
/// `data` changes, and add the upcaster from the previous version in [`crate::upcast`].
pub fn current_version(event_type: &str) -> u32 {
    match event_type {
        "user.registered" => 2,
        _ => 1,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event is not valid JSON or does not match its type: {0}")]
    Json(#[from] serde_json::Error),
    #[error("event has no upcaster from version {version} of {event_type}")]
    UnknownVersion { event_type: String, version: u64 },
}
