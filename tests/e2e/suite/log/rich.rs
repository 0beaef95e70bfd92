//! The rich content a generated post brings along: a preview of its link (twice for some, as a
//! redelivery would), and now and then the end of a call in its room (summarised twice, as two
//! hang-ups racing would).

use natter_schemas::Event;
use natter_schemas::calls::CallEnded;
use natter_schemas::event::EventBody;
use natter_schemas::previews::{PreviewAdded, PreviewRef};
use uuid::Uuid;

/// The preview events of post `k` (`message`), whose body links to `https://example.com/k`.
pub(super) fn previews_of(actor: Uuid, room: Uuid, message: Uuid, k: usize) -> Vec<Event> {
    let preview = Event::new(
        actor,
        Some(room),
        EventBody::PreviewAdded(PreviewAdded {
            message_id: message,
            preview: PreviewRef {
                url: format!("https://example.com/{k}"),
                title: Some(format!("page {k}")),
                description: None,
                site_name: None,
                image: None,
            },
        }),
    );
    if k.is_multiple_of(2) {
        vec![preview.clone(), preview]
    } else {
        vec![preview]
    }
}

/// A call of `caller` with `participant` ending in `room`, summarised twice.
pub(super) fn call_ended_twice(
    caller: Uuid,
    room: Uuid,
    participant: Uuid,
    k: usize,
) -> Vec<Event> {
    let ended = Event::new(
        caller,
        Some(room),
        EventBody::CallEnded(CallEnded {
            call_id: Uuid::now_v7(),
            caller,
            participants: vec![participant],
            started_at: chrono::Utc::now(),
            duration_secs: k as u64,
            answered: k.is_multiple_of(2),
        }),
    );
    let again = Event {
        id: Uuid::now_v7(),
        ..ended.clone()
    };
    vec![ended, again]
}
