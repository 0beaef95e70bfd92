//! A room's deliveries on one gateway: its events, in seq order, and its typing signals, to
//! one set of sockets (a removal ends both).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures::StreamExt;
use natter_bus::{Bus, BusError, DeliveryHeaders};
use natter_schemas::Event;
use natter_schemas::consent::Reach;
use natter_schemas::event::EventBody;
use natter_schemas::frames::{ServerFrame, TypingState, close_code};
use natter_schemas::model::Visibility;
use uuid::Uuid;

use super::{Outbound, Rules, Sessions, read, write};
use crate::wire::{self, encode};

/// What a room's delivery task works with.
pub(super) struct Feed {
    pub bus: Bus,
    pub room: Uuid,
    pub sessions: Sessions,
    /// The newest seq delivered (shared with the hub's entry).
    pub seen: Arc<AtomicU64>,
    pub rules: Arc<Rules>,
    pub urls: super::FileUrlsRef,
    /// The room's messages deleted lately, as this feed saw them.
    pub deleted: std::sync::Mutex<RecentlyDeleted>,
    /// History, for previews of messages deleted before this feed began.
    pub pool: sqlx::PgPool,
}

/// The last few thousand messages a feed saw deleted: a preview the worker appended just
/// after a message's delete (it checks first, but the delete may land in between) is not
/// delivered.
#[derive(Default)]
pub(super) struct RecentlyDeleted {
    order: std::collections::VecDeque<Uuid>,
    set: std::collections::HashSet<Uuid>,
}

impl RecentlyDeleted {
    const KEPT: usize = 4096;

    fn saw(&mut self, event: &Event) -> bool {
        match &event.body {
            EventBody::MessageDeleted(d) => {
                if self.set.insert(d.message_id) {
                    self.order.push_back(d.message_id);
                    if self.order.len() > Self::KEPT
                        && let Some(old) = self.order.pop_front()
                    {
                        self.set.remove(&old);
                    }
                }
                true
            }
            EventBody::PreviewAdded(p) => !self.set.contains(&p.message_id),
            _ => true,
        }
    }
}

/// Delivers the room's events and typing signals until the entry is dropped.
pub(super) async fn room_task(feed: Feed, events: async_nats::Subscriber) {
    let (bus, room) = (&feed.bus, feed.room);
    let typing = match bus
        .client()
        .subscribe(bus.subjects().typing_room(room))
        .await
    {
        Ok(typing) => Some(typing),
        Err(e) => {
            tracing::warn!(%room, error = %e, "cannot subscribe to typing signals");
            None
        }
    };
    let typing = async {
        if let Some(typing) = typing {
            typing_task(room, typing, feed.sessions.clone()).await;
        }
    };
    tokio::join!(event_task(&feed, events), typing);
}

async fn event_task(feed: &Feed, mut subscriber: async_nats::Subscriber) {
    let (room, rules, sessions) = (feed.room, &feed.rules, &feed.sessions);
    // Events up to the log's head when the subscription began belong to the sessions' own
    // replays; after it, every room event must arrive here. The fan-out may also deliver a
    // batch twice after a crash: each room's seqs only grow, so repeats are dropped.
    let mut floor = feed.seen.load(Ordering::Relaxed);
    while let Some(message) = subscriber.next().await {
        let Some(seq) = DeliveryHeaders::seq(&message) else {
            continue;
        };
        if seq <= floor {
            continue;
        }
        // The fan-out says which room event came before this one: if this gateway never got
        // it (core NATS dropped it, or interest had not reached the fan-out's server yet),
        // read the hole from the log before going on. A delivery that does not say (the
        // fan-out's first of the room since it started) may follow a hole too.
        let prev = DeliveryHeaders::prev_seq(&message);
        if prev.is_none_or(|p| p > floor)
            && seq > floor + 1
            && let Err(e) = backfill(feed, floor, seq).await
        {
            tracing::warn!(%room, floor, ?prev, error = %e, "cannot fill a delivery gap; closing the room's sockets");
            interrupted(feed);
        }
        floor = seq;
        feed.seen.store(seq, Ordering::Relaxed);
        let mut event = match Event::from_bytes(&message.payload) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(%room, seq, error = %e, "undecodable delivery");
                // It may have changed who may send: the rules cannot tell.
                rules.broke();
                continue;
            }
        };
        rules.feed(seq, &event);
        if let Err(e) = feed.bus.unseal(&mut event).await {
            // Its text cannot be read now: the sockets resume once it can.
            tracing::warn!(%room, seq, error = %e, "cannot unseal a delivery; closing the room's sockets");
            interrupted(feed);
            continue;
        }
        if passes(feed, seq, &event).await {
            deliver(
                room,
                seq,
                &event,
                wire::event_frame(room, seq, &event, &*feed.urls),
                sessions,
            );
        }
    }
    // The subscription ended: nothing more is heard of the room here.
    rules.broke();
}

/// Closes the room's sockets here: they resume with `since`, and the resume decides.
fn interrupted(feed: &Feed) {
    feed.rules.broke();
    for sub in read(&feed.sessions).values() {
        sub.handle.close(
            close_code::SERVICE_RESTART,
            "deliveries were interrupted; reconnect and resume with since",
        );
    }
}

/// Whether the event at `seq` (already fed to the rules) may be delivered: not a void post,
/// nor a preview of a message deleted lately.
/// For a post whose check saw the log before this feed's losses begin, those before are read
/// back from the log; when that cannot be done the sockets are closed instead.
async fn passes(feed: &Feed, seq: u64, event: &Event) -> bool {
    if wire::not_for_clients(event) {
        return false;
    }
    let shown = match feed.deleted.lock() {
        Ok(mut deleted) => deleted.saw(event),
        Err(_) => true,
    };
    if !shown {
        return false;
    }
    if let EventBody::PreviewAdded(_) = &event.body {
        // Deleted before this feed began? History knows (previews are rare: one query each).
        if !crate::wire::previewed_and_deleted(&feed.pool, [event])
            .await
            .is_empty()
        {
            return false;
        }
    }
    let Some((post, sender)) = crate::void::post(event) else {
        return true;
    };
    let Some(checked) = post.checked_at else {
        return true;
    };
    let void = match feed.rules.void(sender, checked, seq) {
        Some(void) => void,
        None => {
            // The check saw the log before what this feed knows: read the losses in between
            // back from the log, and keep them for the posts after this one.
            let from = feed.rules.losses_from();
            match crate::void::losses_from_log(&feed.bus, feed.room, checked, from).await {
                Ok(older) => {
                    feed.rules.add_older_losses(checked, older);
                    match feed.rules.void(sender, checked, seq) {
                        Some(void) => void,
                        // The feed broke meanwhile: what it knows has a hole.
                        None => {
                            tracing::warn!(room = %feed.room, seq, "the feed broke while judging a post; closing the room's sockets");
                            interrupted(feed);
                            return false;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(room = %feed.room, seq, error = %e, "cannot tell whether a post is void; closing the room's sockets");
                    interrupted(feed);
                    return false;
                }
            }
        }
    };
    if void {
        metrics::counter!("natter_gateway_void_posts_total").increment(1);
        return false;
    }
    true
}

/// Reads the room's events after `floor` and before `until` from the log and delivers them
/// (without the text of messages deleted within them, as a resume would).
async fn backfill(feed: &Feed, floor: u64, until: u64) -> Result<(), BusError> {
    let room = feed.room;
    // Read up to the event that showed the gap, not past it: the live feed has the rest.
    let replay = feed
        .bus
        .open_room_replay(room, floor, None)
        .await?
        .read_through(until.saturating_sub(1), 10_000, Duration::from_secs(5))
        .await?;
    let natter_bus::Replay::Events(raw) = replay else {
        return Err(BusError::other("gap too large to fill"));
    };
    let mut read: Vec<(u64, Option<Event>)> = raw
        .into_iter()
        .map(|(seq, bytes)| (seq, Event::from_bytes(&bytes).ok()))
        .collect();
    for event in read.iter_mut().filter_map(|(_, e)| e.as_mut()) {
        feed.bus
            .unseal(event)
            .await
            .map_err(|e| BusError::unavailable(format!("unseal: {e}")))?;
    }
    if !read.is_empty() {
        metrics::counter!("natter_gateway_delivery_gaps_total").increment(1);
    }
    let events: Vec<(u64, Event)> = read
        .iter()
        .filter_map(|(seq, e)| e.clone().map(|e| (*seq, e)))
        .collect();
    let mut deleted = wire::deleted_in(&events);
    deleted.extend(wire::previewed_and_deleted(&feed.pool, events.iter().map(|(_, e)| e)).await);
    for (seq, event) in &read {
        feed.seen.store(*seq, Ordering::Relaxed);
        let Some(event) = event else {
            // It may have changed who may send or post: the rules and losses start over
            // after it, where it stands.
            tracing::error!(%room, seq, "undecodable event in a delivery gap");
            feed.rules.broke();
            continue;
        };
        feed.rules.feed(*seq, event);
        if passes(feed, *seq, event).await {
            let frame = wire::stretch_frame(room, *seq, event, &deleted, &*feed.urls);
            deliver(room, *seq, event, frame, &feed.sessions);
        }
    }
    Ok(())
}

/// Whose subscriptions to a room an event ends (after delivering it to them): one user's, or
/// everyone's (`None`), with the reason.
fn ends_subscription(event: &Event) -> Option<(Option<Uuid>, &'static str)> {
    match &event.body {
        EventBody::MemberKicked(m) => Some((Some(m.user_id), "kicked")),
        EventBody::MemberBanned(m) => Some((Some(m.user_id), "banned")),
        EventBody::MemberLeft(m) => Some((Some(m.user_id), "left")),
        EventBody::RoomArchived(_) => Some((None, "archived")),
        // Non-members may have been reading it while it was public: everyone subscribes again
        // and is checked again.
        EventBody::RoomUpdated(u) if u.visibility == Some(Visibility::Private) => {
            Some((None, "visibility_changed"))
        }
        _ => None,
    }
}

/// Hands one event's frame to every session of the room that may have it, and applies what
/// the event changes for them: membership, or the end of their subscription.
fn deliver(room: Uuid, seq: u64, event: &Event, frame: Utf8Bytes, sessions: &Sessions) {
    let members_only = wire::members_only(event);
    let mut delivered = 0u64;
    for sub in read(sessions).values() {
        if (members_only && !sub.member) || sub.handle.blocked.hides(event) {
            continue;
        }
        sub.handle.push(Outbound::Event {
            room,
            seq,
            frame: frame.clone(),
        });
        delivered += 1;
    }
    metrics::counter!("natter_gateway_deliveries_total").increment(delivered);
    if let EventBody::MemberJoined(m) | EventBody::MemberInvited(m) = &event.body {
        for sub in write(sessions).values_mut() {
            if sub.handle.user == m.user_id && sub.member_as_of <= seq {
                sub.member = true;
                sub.member_as_of = seq;
            }
        }
    }
    if let Some((target, reason)) = ends_subscription(event) {
        let notice = encode(&ServerFrame::Unsubscribed {
            room_id: room,
            reason: reason.to_owned(),
        });
        write(sessions).retain(|_, sub| {
            let ends = target.is_none_or(|user| user == sub.handle.user);
            if ends {
                sub.handle.push(Outbound::Forget {
                    room,
                    notice: Some(notice.clone()),
                });
            }
            !ends
        });
    }
}

/// How long a typist is shown typing after their last `start` when nothing more is heard (their
/// gateway stops them after 5 s; this covers a gateway that died before it could).
const TYPING_SHOWN: Duration = Duration::from_secs(6);

/// Forwards a room's typing signals to its local sockets, except the typist's own, and sends
/// `stop` for typists not heard from for [`TYPING_SHOWN`].
async fn typing_task(room: Uuid, mut subscriber: async_nats::Subscriber, sessions: Sessions) {
    #[derive(serde::Deserialize)]
    struct Signal {
        user_id: Uuid,
        state: TypingState,
    }
    let forward = |user: Uuid, frame: &Utf8Bytes| {
        let shown = |s: &&super::Sub| {
            s.handle.user != user && !s.handle.blocked.refuses(user, Reach::Content)
        };
        for sub in read(&sessions).values().filter(shown) {
            sub.handle.push(Outbound::Frame(frame.clone()));
        }
    };
    let mut typists: HashMap<Uuid, tokio::time::Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            message = subscriber.next() => {
                let Some(message) = message else { break };
                let Ok(signal) = serde_json::from_slice::<Signal>(&message.payload) else {
                    continue;
                };
                match signal.state {
                    TypingState::Start => {
                        typists.insert(signal.user_id, tokio::time::Instant::now() + TYPING_SHOWN);
                    }
                    TypingState::Stop => {
                        if typists.remove(&signal.user_id).is_none() {
                            continue;
                        }
                    }
                }
                let Ok(text) = std::str::from_utf8(&message.payload) else { continue };
                forward(signal.user_id, &Utf8Bytes::from(text));
            }
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                let gone: Vec<Uuid> =
                    typists.iter().filter(|(_, until)| **until <= now).map(|(u, _)| *u).collect();
                for user in gone {
                    typists.remove(&user);
                    forward(user, &encode(&ServerFrame::Typing { room_id: room, user_id: user, state: TypingState::Stop }));
                }
            }
        }
    }
}
