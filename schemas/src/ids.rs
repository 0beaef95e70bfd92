//! Deterministic ids, so that retries and races name the same thing.

use uuid::Uuid;

/// Namespace for natter's UUIDv5 ids.
const NATTER: Uuid = Uuid::from_u128(0x6e61_7474_6572_4000_8000_0000_0000_0001);

/// The id of the message `sender` posts with `client_msg_id`: a retried send names the same
/// message.
pub fn message_id(sender: Uuid, client_msg_id: &str) -> Uuid {
    let mut name = Vec::with_capacity(16 + 4 + client_msg_id.len());
    name.extend_from_slice(b"msg:");
    name.extend_from_slice(sender.as_bytes());
    name.extend_from_slice(client_msg_id.as_bytes());
    Uuid::new_v5(&NATTER, &name)
}

/// The one direct-conversation room of a set of users (order and repeats do not matter).
pub fn dm_room_id(users: &[Uuid]) -> Uuid {
    let mut sorted = users.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut name = Vec::with_capacity(3 + 16 * sorted.len());
    name.extend_from_slice(b"dm:");
    for user in sorted {
        name.extend_from_slice(user.as_bytes());
    }
    Uuid::new_v5(&NATTER, &name)
}

/// The log's dedupe key for an edit: the same new body on the same version of a message is the
/// same edit, so a retried edit is appended once.
pub fn edit_key(
    message: Uuid,
    version_seq: i64,
    body: &str,
    format: crate::text::Format,
) -> String {
    let mut name = Vec::with_capacity(4 + 16 + 8 + body.len() + 9);
    name.extend_from_slice(b"edit:");
    name.extend_from_slice(message.as_bytes());
    name.extend_from_slice(&version_seq.to_be_bytes());
    name.extend_from_slice(body.as_bytes());
    // Plain edits keep the key they had before formats existed.
    if !format.is_plain() {
        name.extend_from_slice(b"\0");
        name.extend_from_slice(format.as_str().as_bytes());
    }
    format!("edit:{}", Uuid::new_v5(&NATTER, &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dm_ids_ignore_order_and_differ_per_set() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(dm_room_id(&[a, b]), dm_room_id(&[b, a, b]));
        assert_ne!(dm_room_id(&[a, b]), dm_room_id(&[a, c]));
        assert_ne!(dm_room_id(&[a, b]), dm_room_id(&[a, b, c]));
    }

    #[test]
    fn message_ids_are_per_sender() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(message_id(a, "1"), message_id(a, "1"));
        assert_ne!(message_id(a, "1"), message_id(b, "1"));
        assert_ne!(message_id(a, "1"), message_id(a, "2"));
    }
}
