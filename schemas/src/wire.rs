//! Events as clients see them: the wire form of a stored event, and what a stretch of a room's
//! events read back from the log may show now (no text of messages deleted since, no
//! members-only events for visitors).

use std::collections::HashSet;

use uuid::Uuid;

use crate::Event;
use crate::event::EventBody;
use crate::files::{FileUrls, PlainUrls};
use crate::frames::WireEvent;
use crate::model::Message;

/// The wire form of a stored event: for `message.posted`, `data` is the message object; for
/// `message.edited`, the event's data with, for Markdown, the new body's `html`; for
/// `message.preview_added`, the preview as messages carry it, with `message_id`; for
/// `user.profile_updated`, the change with the new avatar's `avatar_url`; for `user.erased`,
/// only `user_id`. Files are named by
/// URLs from `urls`.
pub fn wire_event(seq: u64, event: &Event, urls: &dyn FileUrls) -> WireEvent {
    let data = match (&event.body, event.room_id) {
        (EventBody::MessagePosted(posted), Some(room)) => {
            let message =
                Message::from_posted(room, seq, event.actor_id, event.occurred_at, posted, urls);
            let message = if event.erased {
                message.erased()
            } else {
                message
            };
            serde_json::to_value(message).unwrap_or_default()
        }
        // An erased edit: which message, not what it said.
        (EventBody::MessageEdited(edited), _) if event.erased => {
            serde_json::json!({ "message_id": edited.message_id, "erased": true })
        }
        (EventBody::MessageEdited(edited), _) => {
            let mut data = serde_json::to_value(edited).unwrap_or_default();
            if let (Some(html), Some(object)) = (edited_html(edited), data.as_object_mut()) {
                object.insert("html".into(), html.into());
            }
            data
        }
        (EventBody::PreviewAdded(added), _) => {
            let mut data = serde_json::to_value(added.preview.to_preview(urls)).unwrap_or_default();
            if let Some(object) = data.as_object_mut() {
                object.insert("message_id".into(), added.message_id.to_string().into());
            }
            data
        }
        (EventBody::UserProfileUpdated(changed), _) => {
            let mut data = serde_json::to_value(changed).unwrap_or_default();
            if let (Some(file), Some(object)) = (changed.avatar_id, data.as_object_mut()) {
                object.insert("avatar_url".into(), urls.url(file, true).into());
            }
            data
        }
        // Who is gone; not where they were, nor the token of their name.
        (EventBody::UserErased(erased), _) => serde_json::json!({ "user_id": erased.user_id }),
        // Never the credentials: what the session of the change is.
        (EventBody::PasswordChanged(changed), _) => {
            serde_json::json!({ "session": changed.session })
        }
        _ => serde_json::to_value(&event.body)
            .ok()
            .and_then(|mut v| v.get_mut("data").map(serde_json::Value::take))
            .unwrap_or_default(),
    };
    WireEvent {
        id: event.id,
        event_type: event.type_name().to_owned(),
        actor_id: event.actor_id,
        occurred_at: event.occurred_at,
        data,
        redacted: false,
    }
}

/// An edit's new body rendered, for Markdown.
fn edited_html(edited: &crate::event::MessageEdited) -> Option<String> {
    crate::text::html(
        &edited.body,
        edited.format,
        &edited.mentions,
        &edited.mention_names,
    )
}

/// The wire form of a room event whose message has been deleted since: it keeps its seq and
/// its place, not its text. `message.posted` carries the message as history shows it now
/// (`body: null, deleted: true`, no mentions); `message.edited` and `message.preview_added`
/// carry only `message_id`.
/// Both are marked `redacted`, and a deleted message's files are not named. `None` for events
/// that carry no message text.
pub fn redacted_wire_event(room: Uuid, seq: u64, event: &Event) -> Option<WireEvent> {
    let mut wire = wire_event(seq, event, &PlainUrls);
    match &event.body {
        EventBody::MessagePosted(posted) => {
            let mut message = Message::from_posted(
                room,
                seq,
                event.actor_id,
                event.occurred_at,
                posted,
                &PlainUrls,
            );
            message.body = None;
            message.html = None;
            message.encrypted = None;
            message.deleted = true;
            message.mentions.clear();
            message.attachments.clear();
            wire.data = serde_json::to_value(message).unwrap_or_default();
        }
        EventBody::MessageEdited(edited) => {
            wire.data = serde_json::json!({ "message_id": edited.message_id });
        }
        EventBody::PreviewAdded(added) => {
            wire.data = serde_json::json!({ "message_id": added.message_id });
        }
        _ => return None,
    }
    wire.redacted = true;
    Some(wire)
}

/// Who reads a stretch of a room's events taken from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A member of the room: sees every event.
    Member,
    /// A reader of a public room who is not a member: members-only events are left out.
    Visitor,
}

/// Events only members receive: who read how far is the members' business (as the receipts
/// endpoint is).
pub fn members_only(event: &Event) -> bool {
    matches!(
        event.body,
        EventBody::ReadUpdated(_) | EventBody::DeliveredUpdated(_)
    )
}

/// Events that are the read models' business, not clients': a preview image's
/// `file.uploaded` on its room's subject (so that it comes before its preview in every reader
/// of the room's events), and file removals.
pub fn not_for_clients(event: &Event) -> bool {
    matches!(
        event.body,
        EventBody::FileUploaded(_) | EventBody::FileRemoved(_)
    )
}

/// The messages a stretch of events deletes.
pub fn deleted_in(events: &[(u64, Event)]) -> HashSet<Uuid> {
    events
        .iter()
        .filter_map(|(_, event)| match &event.body {
            EventBody::MessageDeleted(d) => Some(d.message_id),
            _ => None,
        })
        .collect()
}

/// Whether `event` carries text of one of the `deleted` messages.
pub fn shows_deleted_text(event: &Event, deleted: &HashSet<Uuid>) -> bool {
    match &event.body {
        EventBody::MessagePosted(p) => deleted.contains(&p.message_id),
        EventBody::MessageEdited(e) => deleted.contains(&e.message_id),
        EventBody::PreviewAdded(p) => deleted.contains(&p.message_id),
        _ => false,
    }
}
