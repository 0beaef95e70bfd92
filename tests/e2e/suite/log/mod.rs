//! The behaviour suite's generated log: users, rooms and every kind of chat action, some of
//! them repeated or out of place on purpose; and which of its posts are void. The users (with
//! their device keys) and rooms it starts with are in [`setup`], the rich content a post brings
//! (previews, a call's end) in [`rich`].

mod rich;
mod setup;

use natter_bench::generate::Rng;
use natter_schemas::Event;
use natter_schemas::event::{
    DeliveredPosition, DeliveredUpdated, EventBody, MemberChanged, MemberRemoved, MessageEdited,
    MessagePosted, MessageRef, ReactionChanged, ReadUpdated,
};
use natter_schemas::keys::Encrypted;
use natter_schemas::model::Role;
use natter_schemas::text::Format;
use uuid::Uuid;

const WORDS: &[&str] = &[
    "running", "deploys", "kafka", "postgres", "coffee", "lunch", "release", "tests", "green",
    "broken", "natter", "search", "threads", "quickly",
];

/// A plausible log of `n` events (plus the setup events): users, rooms, and every kind of
/// chat action, some of them repeated or out of place on purpose.
pub(super) fn generated_log(seed: u64, n: usize) -> Vec<(u64, Event)> {
    let mut rng = Rng(seed);
    let mut events = Vec::new();
    let (users, rooms, mut members) = setup::users_and_rooms(&mut events);
    // Posted messages: (room, id, sender, the posting event).
    let mut posted: Vec<(Uuid, Uuid, Uuid, Event)> = Vec::new();
    for k in 0..n {
        let r = rng.below(rooms.len());
        let room = rooms[r];
        let actor = rng.pick(&members[r]);
        let roll = rng.below(100);
        let body = match roll {
            0..=44 => {
                let root = (rng.below(4) == 0 && !posted.is_empty())
                    .then(|| posted[rng.below(posted.len())].clone())
                    .filter(|p| p.0 == room)
                    .map(|p| p.1);
                let mentions: Vec<Uuid> = (0..rng.below(3))
                    .map(|_| rng.pick(&members[r]))
                    .filter(|u| *u != actor)
                    .collect();
                let client_msg_id = format!("c{k}");
                // Most posts say what their check saw, up to 40 events back: those whose sender
                // left or was muted in between are void in every read model.
                let seq = events.len() as u64 + 1;
                let checked_at =
                    (rng.below(4) != 0).then(|| seq.saturating_sub(1 + rng.below(40) as u64));
                let text = format!(
                    "{} {} {}",
                    rng.pick(WORDS),
                    rng.pick(WORDS),
                    rng.pick(WORDS)
                );
                // Every third post is Markdown, with a link.
                let (text, format) = if k % 3 == 0 {
                    (
                        format!("**{text}** [see](https://example.com/{k})"),
                        Format::Markdown,
                    )
                } else {
                    (text, Format::Plain)
                };
                let event = Event::new(
                    actor,
                    Some(room),
                    EventBody::MessagePosted(MessagePosted {
                        message_id: natter_schemas::ids::message_id(actor, &client_msg_id),
                        client_msg_id,
                        body: text,
                        thread_root_id: root,
                        mentions,
                        checked_at,
                        format,
                        encrypted: (r == 2).then(|| Encrypted {
                            ciphertext: format!("sealed-{k}"),
                            device_key_id: "a".into(),
                        }),
                        ..Default::default()
                    }),
                );
                posted.push((
                    room,
                    natter_schemas::ids::message_id(actor, &format!("c{k}")),
                    actor,
                    event.clone(),
                ));
                events.push(event);
                let id = natter_schemas::ids::message_id(actor, &format!("c{k}"));
                if format == Format::Markdown {
                    events.extend(rich::previews_of(actor, room, id, k));
                }
                if k % 7 == 0 {
                    events.extend(rich::call_ended_twice(actor, room, members[r][0], k));
                }
                continue;
            }
            // A send appended again (a retry after the log's dedupe window).
            45..=49 if !posted.is_empty() => {
                let again = posted[rng.below(posted.len())].3.clone();
                events.push(Event {
                    id: Uuid::now_v7(),
                    ..again
                });
                continue;
            }
            50..=59 if !posted.is_empty() => {
                let (room, id, sender, _) = posted[rng.below(posted.len())].clone();
                let r = rooms.iter().position(|x| *x == room).unwrap_or(0);
                events.push(Event::new(
                    sender,
                    Some(room),
                    EventBody::MessageEdited(MessageEdited {
                        message_id: id,
                        body: format!("edited _{}_ {}", rng.pick(WORDS), rng.pick(WORDS)),
                        mentions: vec![rng.pick(&members[r])],
                        format: Format::Markdown,
                        ..Default::default()
                    }),
                ));
                continue;
            }
            60..=64 if !posted.is_empty() => {
                let (room, id, sender, _) = posted[rng.below(posted.len())].clone();
                events.push(Event::new(
                    sender,
                    Some(room),
                    EventBody::MessageDeleted(MessageRef { message_id: id }),
                ));
                continue;
            }
            65..=74 if !posted.is_empty() => {
                let (room, id, _, _) = posted[rng.below(posted.len())].clone();
                let change = ReactionChanged {
                    message_id: id,
                    emoji: rng.pick(&["👍", "🎉", ":eyes:"]).to_owned(),
                };
                let body = if rng.below(3) == 0 {
                    EventBody::ReactionRemoved(change)
                } else {
                    EventBody::ReactionAdded(change)
                };
                events.push(Event::new(actor, Some(room), body));
                continue;
            }
            // A message deleted, then edited and reacted to (no effect), reacted to and
            // un-reacted in a row: the effects of order inside one batch.
            78 if !posted.is_empty() => {
                let (room, id, sender, _) = posted[rng.below(posted.len())].clone();
                let r = rooms.iter().position(|x| *x == room).unwrap_or(0);
                let reactor = rng.pick(&members[r]);
                let react = |add: bool| {
                    let change = ReactionChanged {
                        message_id: id,
                        emoji: "🔁".to_owned(),
                    };
                    Event::new(
                        reactor,
                        Some(room),
                        if add {
                            EventBody::ReactionAdded(change)
                        } else {
                            EventBody::ReactionRemoved(change)
                        },
                    )
                };
                events.push(react(true));
                events.push(react(false));
                events.push(react(true));
                events.push(Event::new(
                    sender,
                    Some(room),
                    EventBody::MessageDeleted(MessageRef { message_id: id }),
                ));
                events.push(Event::new(
                    sender,
                    Some(room),
                    EventBody::MessageEdited(MessageEdited {
                        message_id: id,
                        body: "edited after its delete".to_owned(),
                        mentions: Vec::new(),
                        ..Default::default()
                    }),
                ));
                events.push(react(true));
                continue;
            }
            // An edit and a reaction naming a message posted just after them (no effect).
            79 => {
                let client_msg_id = format!("early{k}");
                let id = natter_schemas::ids::message_id(actor, &client_msg_id);
                events.push(Event::new(
                    actor,
                    Some(room),
                    EventBody::MessageEdited(MessageEdited {
                        message_id: id,
                        body: "edited before it was posted".to_owned(),
                        mentions: Vec::new(),
                        ..Default::default()
                    }),
                ));
                events.push(Event::new(
                    actor,
                    Some(room),
                    EventBody::ReactionAdded(ReactionChanged {
                        message_id: id,
                        emoji: "⏪".to_owned(),
                    }),
                ));
                let event = Event::new(
                    actor,
                    Some(room),
                    EventBody::MessagePosted(MessagePosted {
                        message_id: id,
                        client_msg_id,
                        body: "posted after an edit".to_owned(),
                        mentions: Vec::new(),
                        ..Default::default()
                    }),
                );
                posted.push((room, id, actor, event.clone()));
                events.push(event);
                continue;
            }
            75..=77 if !posted.is_empty() => {
                let (room, id, _, _) = posted[rng.below(posted.len())].clone();
                let change = MessageRef { message_id: id };
                let body = if rng.below(3) == 0 {
                    EventBody::MessageUnpinned(change)
                } else {
                    EventBody::MessagePinned(change)
                };
                events.push(Event::new(users[0].0, Some(room), body));
                continue;
            }
            80..=91 => {
                // Reads forward and (sometimes) backward, a few naming seqs not yet in the log.
                let seq = if rng.below(8) == 0 {
                    (events.len() + 1 + rng.below(6)) as u64
                } else {
                    1 + rng.below(events.len()) as u64
                };
                if rng.below(3) == 0 {
                    // A gateway's coalesced delivery receipts: two members, one naming a seq
                    // past the event itself.
                    let other = members[r][rng.below(members[r].len())];
                    let positions = vec![
                        DeliveredPosition {
                            user_id: actor,
                            seq,
                        },
                        DeliveredPosition {
                            user_id: other,
                            seq: seq + 10,
                        },
                    ];
                    let body = EventBody::DeliveredUpdated(DeliveredUpdated { positions });
                    events.push(Event::new(Uuid::nil(), Some(room), body));
                    continue;
                }
                EventBody::ReadUpdated(ReadUpdated { seq })
            }
            92..=95 => {
                let user = users[rng.below(users.len())].0;
                if members[r].contains(&user) {
                    continue;
                }
                members[r].push(user);
                EventBody::MemberJoined(MemberChanged {
                    user_id: user,
                    role: Role::Member,
                    pending: false,
                })
            }
            _ => {
                if actor == users[0].0 || members[r].len() <= 2 {
                    continue;
                }
                members[r].retain(|u| *u != actor);
                match rng.below(4) {
                    0 => EventBody::MemberBanned(MemberRemoved { user_id: actor }),
                    1 => EventBody::MemberMuted(natter_schemas::event::MemberMuted {
                        user_id: actor,
                        until: chrono::Utc::now(),
                    }),
                    _ => EventBody::MemberLeft(MemberRemoved { user_id: actor }),
                }
            }
        };
        let lost = body.posting_loss().is_some();
        events.push(Event::new(actor, Some(room), body));
        if lost && rng.below(2) == 0 {
            // A post of theirs that raced the loss: checked before it, landing after it (void).
            let client_msg_id = format!("raced{k}");
            events.push(Event::new(
                actor,
                Some(room),
                EventBody::MessagePosted(MessagePosted {
                    message_id: natter_schemas::ids::message_id(actor, &client_msg_id),
                    client_msg_id,
                    body: format!("raced {}", rng.pick(WORDS)),
                    mentions: vec![users[0].0],
                    checked_at: Some(events.len() as u64 - 1),
                    ..Default::default()
                }),
            ));
        }
    }
    // Last (so that nothing after it hides its effect): a read naming a seq past its own, then
    // a message that lands at or before that seq.
    let (reader, writer) = (members[0][0], members[0][1]);
    let ahead = events.len() as u64 + 3;
    events.push(Event::new(
        reader,
        Some(rooms[0]),
        EventBody::ReadUpdated(ReadUpdated { seq: ahead }),
    ));
    events.push(Event::new(
        writer,
        Some(rooms[0]),
        EventBody::MessagePosted(MessagePosted {
            message_id: Uuid::now_v7(),
            client_msg_id: "last".into(),
            body: "after a read that named it".into(),
            mentions: vec![reader],
            ..Default::default()
        }),
    ));
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| (i as u64 + 1, e))
        .collect()
}

/// The message ids of `log`'s void posts (their sender lost the right to post between their
/// check and themselves) that no post standing in the log shares.
pub(super) fn void_only(log: &[(u64, Event)]) -> Vec<Uuid> {
    let mut losses: Vec<(u64, Uuid, natter_schemas::posting::PostingLoss)> = Vec::new();
    let (mut void, mut standing) = (Vec::new(), std::collections::HashSet::new());
    for (seq, event) in log {
        if let (Some(loss), Some(room)) = (event.body.posting_loss(), event.room_id) {
            losses.push((*seq, room, loss));
        }
        if let (EventBody::MessagePosted(p), Some(room)) = (&event.body, event.room_id) {
            let lost = losses
                .iter()
                .filter(|(_, r, loss)| *r == room && loss.concerns(event.actor_id))
                .map(|(at, _, _)| *at);
            if p.void_given(*seq, lost) {
                void.push(p.message_id);
            } else {
                standing.insert(p.message_id);
            }
        }
    }
    void.retain(|id| !standing.contains(id));
    void
}
