//! The bulk of a log, a stretch at a time: messages, edits, deletes and reactions in a few
//! set-based statements per stretch. Here: cutting a batch into stretches and applying one;
//! [`posts`] inserts a stretch's messages (with their threads and files), [`changes`] applies
//! its reactions, edits and deletes.

mod changes;
mod posts;

use std::collections::HashMap;

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use sqlx::PgConnection;
use uuid::Uuid;

use changes::{deletes, edits, reactions};
use posts::messages_posted;

/// A stretch of a batch: events applied together, or one applied alone.
pub(super) enum Segment<'a> {
    Bulk(&'a [(u64, Event)]),
    One(u64, &'a Event),
}

/// Whether an event can be part of a bulk stretch.
fn bulk(event: &Event) -> bool {
    matches!(
        event.body,
        EventBody::MessagePosted(_)
            | EventBody::MessageEdited(_)
            | EventBody::MessageDeleted(_)
            | EventBody::ReactionAdded(_)
            | EventBody::ReactionRemoved(_)
            | EventBody::ReadUpdated(_)
    )
}

/// The message an edit, delete or reaction refers to.
fn referenced(event: &Event) -> Option<Uuid> {
    match &event.body {
        EventBody::MessageEdited(e) => Some(e.message_id),
        EventBody::MessageDeleted(d) => Some(d.message_id),
        EventBody::ReactionAdded(r) | EventBody::ReactionRemoved(r) => Some(r.message_id),
        _ => None,
    }
}

/// Cuts a batch into bulk stretches and single events, in log order. A bulk stretch is applied
/// as: its posts, then its reactions, then its edits, then its deletes. That equals applying
/// its events one by one because
/// - a post does not depend on anything else in the stretch, and nothing in it refers to a
///   message posted after it (the stretch ends before such a post);
/// - reactions and edits of a message that the stretch deletes end up gone either way (a
///   delete removes them; after the delete they would have had no effect);
/// - reactions and edits touch different things, and each is reduced per key in log order.
pub(super) fn segments(events: &[(u64, Event)]) -> impl Iterator<Item = Segment<'_>> {
    let mut rest = events;
    std::iter::from_fn(move || {
        let (seq, first) = rest.first()?;
        if !bulk(first) {
            rest = &rest[1..];
            return Some(Segment::One(*seq, first));
        }
        let mut referenced_so_far = std::collections::HashSet::new();
        let mut n = 0;
        for (_, event) in rest {
            if !bulk(event) {
                break;
            }
            if let EventBody::MessagePosted(p) = &event.body
                && referenced_so_far.contains(&p.message_id)
            {
                break;
            }
            if let Some(id) = referenced(event) {
                referenced_so_far.insert(id);
            }
            n += 1;
        }
        let (stretch, after) = rest.split_at(n);
        rest = after;
        Some(Segment::Bulk(stretch))
    })
}

/// Applies a bulk stretch (see [`segments`]); returns the rooms' `last_seq` it raised (to
/// their newest post in the stretch).
pub(super) async fn apply_bulk(
    conn: &mut PgConnection,
    events: &[(u64, Event)],
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    let posts: Vec<(u64, &Event)> = events
        .iter()
        .filter(|(_, e)| matches!(e.body, EventBody::MessagePosted(_)))
        .map(|(seq, e)| (*seq, e))
        .collect();
    let mut raised = HashMap::new();
    if !posts.is_empty() {
        raised = crate::room_heads(posts.iter().copied());
        messages_posted(conn, &posts, &raised).await?;
    }
    reactions(conn, events).await?;
    edits(conn, events).await?;
    deletes(conn, events).await?;
    Ok(raised)
}
