//! A JSON document read as a type, and when it does not fit, the field it got wrong: serde
//! names the field of a missing or unknown key, but not that of a value of the wrong type
//! (`invalid type: string "x", expected u64`).

use serde::de::DeserializeOwned;
use serde_json::Value;

/// `value` as a `T`, or the field it got wrong (`None` when no one field is to blame) and
/// serde's message.
pub fn fit<T: DeserializeOwned>(value: &Value) -> Result<T, (Option<String>, String)> {
    let error = match T::deserialize(value) {
        Ok(t) => return Ok(t),
        Err(e) => e.to_string(),
    };
    let field = named_field(&error)
        .map(str::to_owned)
        .or_else(|| culprit::<T>(value, &error));
    Err((field, error))
}

/// The field a serde message names (``unknown field `x` ``, ``missing field `x` ``), if any.
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next().filter(|f| !f.is_empty())
}

/// The top-level key whose value `error` is about: the one without which the document no
/// longer fails with `error` (serde stops at the first bad value it meets, and reports missing
/// keys only after it has read every present one, so taking a good key away leaves the same
/// error). `None` when no single key is to blame.
fn culprit<T: DeserializeOwned>(value: &Value, error: &str) -> Option<String> {
    let object = value.as_object()?;
    object
        .keys()
        .filter(|key| key.as_str() != "type")
        .find(|key| {
            let mut without = object.clone();
            without.remove(key.as_str());
            match T::deserialize(&Value::Object(without)) {
                Ok(_) => true,
                Err(e) => e.to_string() != error,
            }
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
    #[allow(dead_code)]
    enum Frame {
        Read { room_id: uuid::Uuid, seq: u64 },
        Ping,
    }

    fn field(value: Value) -> Option<String> {
        fit::<Frame>(&value).expect_err("does not fit").0
    }

    #[test]
    fn the_field_of_a_value_of_the_wrong_type_is_named() {
        let room = uuid::Uuid::nil();
        assert_eq!(
            field(json!({"type": "read", "room_id": room, "seq": "x"})),
            Some("seq".into())
        );
        assert_eq!(
            field(json!({"type": "read", "room_id": 7, "seq": 1})),
            Some("room_id".into())
        );
        // Wrong and missing at once: the wrong one is what serde meets first.
        assert_eq!(
            field(json!({"type": "read", "seq": -1})),
            Some("seq".into())
        );
        assert_eq!(
            field(json!({"type": "read", "room_id": room})),
            Some("seq".into())
        );
        assert_eq!(field(json!({"type": "what"})), None);
        assert_eq!(field(json!({"seq": 1})), Some("type".into()));
        assert!(fit::<Frame>(&json!({"type": "read", "room_id": room, "seq": 3})).is_ok());
    }
}
