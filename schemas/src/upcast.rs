//! Upcasters: turn an older stored shape of an event into the current one, on the raw JSON,
//! before it is decoded into the Rust types. The log is never rewritten: events keep the shape
//! they were written with, and every reader (projectors, replays, fan-out) sees today's.
//!
//! To change the shape of a type's `data`: bump its version in
//! [`crate::event::current_version`], and add an arm here from the previous version, which
//! rewrites `data` and sets `version` one higher. Arms apply one after another until the event
//! is current, so a version-1 event of a type now at version 3 goes 1 → 2 → 3.

use serde_json::{Value, json};

use crate::event::version::{DecodeError, current_version};

/// Rewrites `raw` (a whole stored event) in place to the current version of its type.
pub fn upcast(raw: &mut Value) -> Result<(), DecodeError> {
    let event_type = raw
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let current = u64::from(current_version(&event_type));
    loop {
        let version = raw.get("version").and_then(Value::as_u64).unwrap_or(1);
        if version == current {
            return Ok(());
        }
        let unknown = || DecodeError::UnknownVersion {
            event_type: event_type.clone(),
            version,
        };
        let data = raw.get_mut("data").ok_or_else(unknown)?;
        match (event_type.as_str(), version) {
            // 1 → 2: the flat `password_hash` became `credentials` of kind `password`.
            ("user.registered", 1) => {
                let object = data.as_object_mut().ok_or_else(unknown)?;
                let hash = object.remove("password_hash").ok_or_else(unknown)?;
                object.insert(
                    "credentials".into(),
                    json!({"kind": "password", "hash": hash}),
                );
            }
            _ => return Err(unknown()),
        }
        raw["version"] = json!(version + 1);
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use crate::Event;
    use crate::event::{Credentials, EventBody};

    #[test]
    fn a_version_1_registration_reads_as_version_2() {
        let user = Uuid::now_v7();
        let v1 = serde_json::json!({
            "id": Uuid::now_v7(), "version": 1, "occurred_at": "2026-01-02T03:04:05Z",
            "actor_id": user, "type": "user.registered",
            "data": {"user_id": user, "username": "old", "display_name": "Old",
                     "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"},
        });
        let event = Event::from_bytes(v1.to_string().as_bytes()).expect("upcast");
        assert_eq!(event.version, 2);
        let EventBody::UserRegistered(u) = event.body else {
            panic!("user.registered");
        };
        assert_eq!(u.username, "old");
        assert_eq!(
            u.credentials,
            Credentials::Password {
                hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()
            }
        );
    }

    #[test]
    fn a_version_1_registration_without_its_hash_is_refused() {
        let user = Uuid::now_v7();
        let broken = serde_json::json!({
            "id": Uuid::now_v7(), "version": 1, "occurred_at": "2026-01-02T03:04:05Z",
            "actor_id": user, "type": "user.registered",
            "data": {"user_id": user, "username": "old", "display_name": "Old"},
        });
        assert!(Event::from_bytes(broken.to_string().as_bytes()).is_err());
    }

    #[test]
    fn new_registrations_are_written_as_version_2() {
        let user = Uuid::now_v7();
        let event = Event::new(
            user,
            None,
            EventBody::UserRegistered(crate::event::UserRegistered {
                user_id: user,
                username: "new".into(),
                display_name: "New".into(),
                credentials: Credentials::Password { hash: "h".into() },
            }),
        );
        let raw: serde_json::Value = serde_json::from_slice(&event.to_bytes()).expect("json");
        assert_eq!(raw["version"], 2);
        assert_eq!(raw["data"]["credentials"]["kind"], "password");
        assert_eq!(Event::from_bytes(&event.to_bytes()).expect("decode"), event);
    }
}
