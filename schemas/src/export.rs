//! JSON Schema export: one file per event envelope, wire frame and REST body, into
//! `schemas/json/`. A test fails when the committed files differ from what the code generates;
//! run `NATTER_BLESS=1 cargo test -p natter-schemas` to rewrite them.

use schemars::{JsonSchema, Schema, schema_for};

use crate::{error, event, frames, model, people, rest, sessions};

/// Every exported schema as `(file name, schema)`.
pub fn all() -> Vec<(&'static str, Schema)> {
    fn one<T: JsonSchema>(name: &'static str) -> (&'static str, Schema) {
        (name, schema_for!(T))
    }
    vec![
        one::<event::Event>("event.json"),
        one::<frames::ClientEnvelope>("client_frame.json"),
        one::<frames::ServerFrame>("server_frame.json"),
        one::<frames::SubscribeReply>("subscribe_reply.json"),
        one::<frames::SendReply>("send_reply.json"),
        one::<model::Message>("message.json"),
        one::<model::Room>("room.json"),
        one::<model::User>("user.json"),
        one::<model::Member>("member.json"),
        one::<error::ErrorBody>("error.json"),
        one::<rest::RegisterRequest>("register_request.json"),
        one::<rest::LoginRequest>("login_request.json"),
        one::<rest::AuthResponse>("auth_response.json"),
        one::<rest::CreateRoomRequest>("create_room_request.json"),
        one::<rest::SendMessageRequest>("send_message_request.json"),
        one::<rest::HistoryPage>("history_page.json"),
        one::<frames::ReadReply>("read_reply.json"),
        one::<rest::ChangeReply>("change_reply.json"),
        one::<rest::EditHistory>("edit_history.json"),
        one::<rest::ThreadPage>("thread_page.json"),
        one::<rest::PinList>("pin_list.json"),
        one::<rest::ReceiptList>("receipt_list.json"),
        one::<rest::UnreadSummary>("unread_summary.json"),
        one::<rest::SearchPage>("search_page.json"),
        one::<rest::PresenceList>("presence_list.json"),
        one::<sessions::SessionList>("session_list.json"),
        one::<sessions::TokenPair>("token_pair.json"),
        one::<sessions::RefreshRequest>("refresh_request.json"),
        one::<sessions::PasswordChangeRequest>("password_change_request.json"),
        one::<people::BlockList>("block_list.json"),
        one::<people::Settings>("settings.json"),
        one::<people::UpdateSettingsRequest>("update_settings_request.json"),
        one::<people::EraseRequest>("erase_request.json"),
        one::<people::UserExport>("user_export.json"),
    ]
}

/// The pretty JSON text of a schema, as committed (with a trailing newline).
pub fn render(schema: &Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn committed_json_schemas_are_current() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json");
        let bless = std::env::var_os("NATTER_BLESS").is_some();
        let mut stale = Vec::new();
        for (name, schema) in all() {
            let path = dir.join(name);
            let want = render(&schema);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if have != want {
                if bless {
                    std::fs::create_dir_all(&dir).expect("create schemas/json");
                    std::fs::write(&path, want).expect("write schema");
                } else {
                    stale.push(name);
                }
            }
        }
        assert!(
            stale.is_empty(),
            "stale JSON Schemas {stale:?}: run `NATTER_BLESS=1 cargo test -p natter-schemas`"
        );
    }
}
