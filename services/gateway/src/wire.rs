//! Events as clients see them: the wire form of a stored event, serialised once per frame, and
//! what a stretch read back from the log may show now.

use std::collections::HashSet;

use axum::extract::ws::Utf8Bytes;
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::frames::{ServerFrame, WireEvent};
use natter_schemas::model::Message;
use uuid::Uuid;

/// Serialises a frame once, for every socket that gets it.
pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

/// The wire form of a stored event: for `message.posted`, `data` is the message object.
pub fn wire_event(seq: u64, event: &Event) -> WireEvent {
    let data = match (&event.body, event.room_id) {
        (EventBody::MessagePosted(posted), Some(room)) => serde_json::to_value(
            Message::from_posted(room, seq, event.actor_id, event.occurred_at, posted),
        )
        .unwrap_or_default(),
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

/// The `event` frame for a room event.
pub fn event_frame(room: Uuid, seq: u64, event: &Event) -> Utf8Bytes {
    encode(&ServerFrame::Event {
        room_id: room,
        seq,
        event: wire_event(seq, event),
    })
}

/// The `event` frame for a room event whose message has been deleted since: it keeps its seq
/// and its place, not its text. `message.posted` carries the message as history shows it now
/// (`body: null, deleted: true`, no mentions); `message.edited` carries only `message_id`.
/// Both are marked `redacted`.
pub fn redacted_frame(room: Uuid, seq: u64, event: &Event) -> Utf8Bytes {
    let mut wire = wire_event(seq, event);
    match &event.body {
        EventBody::MessagePosted(posted) => {
            let mut message =
                Message::from_posted(room, seq, event.actor_id, event.occurred_at, posted);
            message.body = None;
            message.deleted = true;
            message.mentions.clear();
            wire.data = serde_json::to_value(message).unwrap_or_default();
        }
        EventBody::MessageEdited(edited) => {
            wire.data = serde_json::json!({ "message_id": edited.message_id });
        }
        _ => return event_frame(room, seq, event),
    }
    wire.redacted = true;
    encode(&ServerFrame::Event {
        room_id: room,
        seq,
        event: wire,
    })
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
    matches!(event.body, EventBody::ReadUpdated(_))
}

/// The frames of a stretch of a room's events read from the log (a resume), in order, showing
/// no more than the read models show now. A message deleted later in the stretch keeps its
/// events' seqs but not its text (the post's body, mentions and the bodies its edits carried);
/// a delete after the stretch's end arrives live after it, as it would have on a socket that
/// never left. Members-only events are left out for a [`Reader::Visitor`].
pub fn replay_frames(room: Uuid, events: &[(u64, Event)], reader: Reader) -> Vec<(u64, Utf8Bytes)> {
    let deleted = deleted_in(events);
    events
        .iter()
        .filter(|(_, event)| reader == Reader::Member || !members_only(event))
        .map(|(seq, event)| (*seq, stretch_frame(room, *seq, event, &deleted)))
        .collect()
}

/// The frame of one event of a stretch read from the log, given the messages the stretch
/// deletes ([`deleted_in`]): redacted when it carries text of one of them.
pub fn stretch_frame(room: Uuid, seq: u64, event: &Event, deleted: &HashSet<Uuid>) -> Utf8Bytes {
    if shows_deleted_text(event, deleted) {
        redacted_frame(room, seq, event)
    } else {
        event_frame(room, seq, event)
    }
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
fn shows_deleted_text(event: &Event, deleted: &HashSet<Uuid>) -> bool {
    match &event.body {
        EventBody::MessagePosted(p) => deleted.contains(&p.message_id),
        EventBody::MessageEdited(e) => deleted.contains(&e.message_id),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use natter_schemas::event::{MessageEdited, MessagePosted, MessageRef, ReadUpdated};

    use super::*;

    fn frames_text(frames: &[(u64, Utf8Bytes)]) -> String {
        frames
            .iter()
            .map(|(_, f)| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_stretch_shows_no_text_of_messages_it_deletes() {
        let (room, alice) = (Uuid::now_v7(), Uuid::now_v7());
        let (gone, kept) = (Uuid::now_v7(), Uuid::now_v7());
        let posted = |id, body: &str| {
            Event::new(
                alice,
                Some(room),
                EventBody::MessagePosted(MessagePosted {
                    message_id: id,
                    client_msg_id: Uuid::now_v7().to_string(),
                    body: body.into(),
                    thread_root_id: None,
                    mentions: vec![alice],
                    checked_at: None,
                }),
            )
        };
        let events = vec![
            (1, posted(gone, "secret-one")),
            (2, posted(kept, "visible")),
            (
                3,
                Event::new(
                    alice,
                    Some(room),
                    EventBody::MessageEdited(MessageEdited {
                        message_id: gone,
                        body: "secret-two".into(),
                        mentions: vec![],
                    }),
                ),
            ),
            (
                4,
                Event::new(
                    alice,
                    Some(room),
                    EventBody::MessageDeleted(MessageRef { message_id: gone }),
                ),
            ),
            (
                5,
                Event::new(
                    alice,
                    Some(room),
                    EventBody::ReadUpdated(ReadUpdated { seq: 4 }),
                ),
            ),
        ];
        let frames = replay_frames(room, &events, Reader::Visitor);
        assert_eq!(
            frames.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [1, 2, 3, 4],
            "seqs kept, receipts left out for a visitor"
        );
        let text = frames_text(&frames);
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("visible"));
        let first: serde_json::Value = serde_json::from_str(frames[0].1.as_str()).expect("json");
        assert_eq!(first["event"]["redacted"], true);
        assert_eq!(first["event"]["data"]["deleted"], true);
        assert_eq!(first["event"]["data"]["body"], serde_json::Value::Null);
        assert_eq!(first["event"]["data"]["mentions"], serde_json::json!([]));
        let second: serde_json::Value = serde_json::from_str(frames[1].1.as_str()).expect("json");
        assert!(second["event"].get("redacted").is_none());
        assert_eq!(replay_frames(room, &events, Reader::Member).len(), 5);
    }
}
