//! Events as frames, serialised once per frame for every socket that gets them; the wire form
//! itself, and what a stretch read back from the log may show, are `natter_schemas::wire`.

use std::collections::HashSet;

use axum::extract::ws::Utf8Bytes;
use natter_schemas::Event;
use natter_schemas::files::FileUrls;
use natter_schemas::frames::ServerFrame;
pub use natter_schemas::wire::{Reader, deleted_in, members_only, not_for_clients, wire_event};
use natter_schemas::wire::{redacted_wire_event, shows_deleted_text};
use uuid::Uuid;

/// Serialises a frame once, for every socket that gets it.
pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

/// The `event` frame for a room event, its files named by `urls`.
pub fn event_frame(room: Uuid, seq: u64, event: &Event, urls: &dyn FileUrls) -> Utf8Bytes {
    encode(&ServerFrame::Event {
        room_id: room,
        seq,
        event: wire_event(seq, event, urls),
    })
}

/// The `event` frame for a room event whose message has been deleted since
/// ([`natter_schemas::wire::redacted_wire_event`]); other events as they are.
pub fn redacted_frame(room: Uuid, seq: u64, event: &Event, urls: &dyn FileUrls) -> Utf8Bytes {
    match redacted_wire_event(room, seq, event) {
        Some(wire) => encode(&ServerFrame::Event {
            room_id: room,
            seq,
            event: wire,
        }),
        None => event_frame(room, seq, event, urls),
    }
}

/// The frames of a stretch of a room's events read from the log (a resume), in order, showing
/// no more than the read models show now. A message deleted later in the stretch keeps its
/// events' seqs but not its text (the post's body, mentions and the bodies its edits carried);
/// a delete after the stretch's end arrives live after it, as it would have on a socket that
/// never left. Members-only events are left out for a [`Reader::Visitor`].
pub fn replay_frames(
    room: Uuid,
    events: &[(u64, Event)],
    reader: Reader,
    urls: &dyn FileUrls,
    deleted_before: &HashSet<Uuid>,
) -> Vec<(u64, Utf8Bytes)> {
    let mut deleted = deleted_in(events);
    deleted.extend(deleted_before);
    events
        .iter()
        .filter(|(_, event)| !not_for_clients(event))
        .filter(|(_, event)| reader == Reader::Member || !members_only(event))
        .map(|(seq, event)| (*seq, stretch_frame(room, *seq, event, &deleted, urls)))
        .collect()
}

/// The messages that a stretch's previews are of and that history has deleted already: a
/// preview the worker appended in the instant after its message's delete, in a stretch that
/// starts after the delete. When history cannot say, every previewed message counts as
/// deleted (the preview is redacted rather than shown).
pub async fn previewed_and_deleted<'a>(
    pool: &sqlx::PgPool,
    events: impl IntoIterator<Item = &'a Event>,
) -> HashSet<Uuid> {
    let previewed: Vec<Uuid> = events
        .into_iter()
        .filter_map(|e| match &e.body {
            natter_schemas::EventBody::PreviewAdded(p) => Some(p.message_id),
            _ => None,
        })
        .collect();
    if previewed.is_empty() {
        return HashSet::new();
    }
    match natter_projections::history::queries::deleted_among(pool, &previewed).await {
        Ok(deleted) => deleted.into_iter().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether previewed messages are deleted; their previews are redacted");
            previewed.into_iter().collect()
        }
    }
}

/// The frame of one event of a stretch read from the log, given the messages the stretch
/// deletes ([`deleted_in`]): redacted when it carries text of one of them.
pub fn stretch_frame(
    room: Uuid,
    seq: u64,
    event: &Event,
    deleted: &HashSet<Uuid>,
    urls: &dyn FileUrls,
) -> Utf8Bytes {
    if shows_deleted_text(event, deleted) {
        redacted_frame(room, seq, event, urls)
    } else {
        event_frame(room, seq, event, urls)
    }
}

/// A reply's `data`, as JSON.
pub fn to_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use natter_schemas::event::{EventBody, MessageEdited, MessagePosted, MessageRef, ReadUpdated};

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
                    attachments: Vec::new(),
                    format: Default::default(),
                    mention_names: Vec::new(),
                    encrypted: None,
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
                        format: Default::default(),
                        mention_names: Vec::new(),
                        encrypted: None,
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
        let urls = natter_schemas::files::PlainUrls;
        let frames = replay_frames(room, &events, Reader::Visitor, &urls, &HashSet::new());
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
        let none = HashSet::new();
        assert_eq!(
            replay_frames(room, &events, Reader::Member, &urls, &none).len(),
            5
        );
    }
}
