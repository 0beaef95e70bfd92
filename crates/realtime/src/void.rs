//! Void posts, for the gateway's readers of the log (live deliveries, filled gaps, resumes).
//!
//! A post is void when its sender lost the right to post in the room between the seq its
//! access check saw and its own ([`MessagePosted::void_given`]); the read models leave such
//! posts out, and no socket gets them either. A reader of a stretch of the log knows the
//! losses inside the stretch; for a post whose check saw the log before the stretch began,
//! the losses before it are read back from the log (no read model has to be up to date).

use std::collections::HashSet;

use natter_schemas::Event;
use natter_schemas::event::{EventBody, MessagePosted};
use natter_schemas::posting::PostingLoss;
use std::time::Duration;

use natter_bus::{Bus, BusError, Replay};
use uuid::Uuid;

/// The post in `event`, with its sender.
pub fn post(event: &Event) -> Option<(&MessagePosted, Uuid)> {
    match &event.body {
        EventBody::MessagePosted(p) => Some((p, event.actor_id)),
        _ => None,
    }
}

/// Whether a post at `seq` by `sender` is void given `losses` (seq, loss): at least every loss
/// of the room above the post's `checked_at` and below `seq`.
pub fn is_void(
    post: &MessagePosted,
    sender: Uuid,
    seq: u64,
    losses: &[(u64, PostingLoss)],
) -> bool {
    post.void_given(
        seq,
        losses
            .iter()
            .filter(|(_, loss)| loss.concerns(sender))
            .map(|(at, _)| *at),
    )
}

/// The lowest `checked_at` of the stretch's posts that saw the log before `start` (so need
/// losses from before the stretch), if any.
pub fn needs_before(events: &[(u64, Event)], start: u64) -> Option<u64> {
    events
        .iter()
        .filter_map(|(_, e)| post(e).and_then(|(p, _)| p.checked_at))
        .filter(|checked| *checked < start)
        .min()
}

/// The seqs of the void posts of a stretch of a room's events, given the room's losses before
/// it (at least those above [`needs_before`]).
pub fn void_in(events: &[(u64, Event)], before: &[(u64, PostingLoss)]) -> HashSet<u64> {
    let mut losses = before.to_vec();
    let mut void = HashSet::new();
    for (seq, event) in events {
        if let Some(loss) = event.body.posting_loss() {
            losses.push((*seq, loss));
        } else if let Some((p, sender)) = post(event)
            && is_void(p, sender, *seq, &losses)
        {
            void.insert(*seq);
        }
    }
    void
}

/// Most room events read back from the log (up to the seq needed) to find the losses before a
/// stretch.
const MAX_LOOKBACK: u64 = 10_000;

/// The room's posting losses at seqs in `(after, through]`, read from the log itself (so that
/// no read model has to be up to date); an error when they cannot all be read.
pub async fn losses_from_log(
    bus: &Bus,
    room: Uuid,
    after: u64,
    through: u64,
) -> Result<Vec<(u64, PostingLoss)>, BusError> {
    if through <= after {
        return Ok(Vec::new());
    }
    let Replay::Events(raw) = bus
        .open_room_replay(room, after, None)
        .await?
        .read_through(through, MAX_LOOKBACK, Duration::from_secs(5))
        .await?
    else {
        return Err(BusError::other(format!(
            "more than {MAX_LOOKBACK} events of {room} to look back through"
        )));
    };
    let mut losses = Vec::new();
    for (seq, bytes) in raw.into_iter().filter(|(seq, _)| *seq <= through) {
        let event = Event::from_bytes(&bytes)
            .map_err(|e| BusError::other(format!("event {seq} of {room}: {e}")))?;
        if let Some(loss) = event.body.posting_loss() {
            losses.push((seq, loss));
        }
    }
    Ok(losses)
}
