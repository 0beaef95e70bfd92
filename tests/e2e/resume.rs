use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::Setup;
use natter_actions::ratelimit::RateLimits;
use natter_gateway::GatewayConfig;
use natter_testkit::Ws;

/// A client drops, messages keep coming, it resumes with `since`: every message exactly once,
/// in order, across the seam between replay and live.
#[tokio::test]
async fn resume_with_since_has_no_gap_and_no_duplicate_while_sends_continue() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let room = alice.create_room("r", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;

    const N: usize = 300;
    let sender = alice.clone();
    let sending = tokio::spawn(async move {
        let mut seqs = Vec::new();
        for i in 0..N {
            seqs.push(sender.send(room, &format!("m{i}"), &format!("{i}")).await);
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        seqs
    });

    let mut received: Vec<u64> = Vec::new();
    let mut epoch = String::new();
    // Connect, read a little, drop; several times while the sender runs.
    for round in 0..4 {
        let mut ws = Ws::connect(&s.natter.ws_url(), bob.token())
            .await
            .expect("connect");
        let mut frame = json!({"type": "subscribe", "room_id": room});
        if let Some(last) = received.last() {
            frame["since"] = json!(last);
            frame["epoch"] = json!(epoch);
        }
        let reply = ws.ok(frame).await;
        if round > 0 {
            assert_eq!(reply["recovered"], true, "{reply}");
        }
        epoch = reply["epoch"].as_str().expect("epoch").to_owned();
        for _ in 0..40 {
            let event = ws.next_of("event").await;
            if event["event"]["type"] == "message.posted" {
                received.push(event["seq"].as_u64().expect("seq"));
            }
        }
        ws.close().await;
    }
    let sent = sending.await.expect("sender");
    // Final resume: everything not yet seen.
    let mut ws = Ws::connect(&s.natter.ws_url(), bob.token())
        .await
        .expect("connect");
    let since = *received.last().expect("some");
    let reply = ws
        .ok(json!({"type": "subscribe", "room_id": room, "since": since, "epoch": epoch}))
        .await;
    assert_eq!(reply["recovered"], true);
    while received.last() != sent.last() {
        let event = ws.next_of("event").await;
        if event["event"]["type"] == "message.posted" {
            received.push(event["seq"].as_u64().expect("seq"));
        }
    }
    // The first subscribe was live-only, so messages before it were never asked for.
    let first = received[0];
    let expected: Vec<u64> = sent.iter().copied().filter(|s| *s >= first).collect();
    assert_eq!(received, expected, "no gap, no duplicate, in order");
    let unique: BTreeSet<u64> = received.iter().copied().collect();
    assert_eq!(unique.len(), received.len());
    s.finish().await;
}

#[tokio::test]
async fn resume_from_another_epoch_or_too_far_back_is_not_recovered() {
    let config = natter_gateway::GatewayConfig {
        max_replay: 5,
        ..natter_testkit::gateway_config()
    };
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let first = alice.send(room, "0", "zero").await;
    for i in 1..10 {
        alice.send(room, &i.to_string(), "more").await;
    }
    let mut ws = s.ws(&alice).await;
    let epoch = ws.hello["epoch"].as_str().expect("epoch").to_owned();

    let reply = ws
        .ok(json!({"type": "subscribe", "room_id": room, "since": first, "epoch": "some-other-log"}))
        .await;
    assert_eq!(reply["recovered"], false);
    assert_eq!(reply["replayed"], 0);

    let reply = ws
        .ok(json!({"type": "subscribe", "room_id": room, "since": first, "epoch": epoch}))
        .await;
    assert_eq!(
        reply["recovered"], false,
        "9 missed > max_replay 5: {reply}"
    );

    let last = alice.send(room, "10", "ten").await;
    let reply = ws
        .ok(json!({"type": "subscribe", "room_id": room, "since": last - 3, "epoch": epoch}))
        .await;
    assert_eq!(reply["recovered"], true, "{reply}");
    let replayed = reply["replayed"].as_u64().expect("replayed");
    assert!((1..=3).contains(&replayed), "{reply}");
    s.finish().await;
}

/// A resume over every kind of room event (reactions, edits, replies, deletes) replays them
/// all, at once.
#[tokio::test]
async fn a_resume_over_every_kind_of_event_replays_them_all() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let room = alice.create_room("r", "private").await;
    alice
        .post(
            &format!("/v1/rooms/{room}/members"),
            json!({"user_id": bob.id()}),
        )
        .await;
    let (_, sent) = alice
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"body": "M", "client_msg_id": "m"}),
        )
        .await;
    let (since, message) = (
        sent["seq"].as_u64().expect("seq"),
        sent["message_id"].as_str().expect("id").to_owned(),
    );
    let (status, body) = bob
        .put(&format!("/v1/messages/{message}/reactions/👍"), json!({}))
        .await;
    assert!(status.is_success(), "{body}");
    let last = alice.send(room, "f", "F").await;
    // nats-server 2.9 sometimes over-counts what is pending here: resume often enough to
    // meet it.
    for _ in 0..10 {
        let mut ws = Ws::connect(&s.natter.ws_url(), bob.token())
            .await
            .expect("connect");
        let epoch = ws.hello["epoch"].clone();
        let reply = ws
            .ok(json!({"type": "subscribe", "room_id": room, "since": since, "epoch": epoch}))
            .await;
        assert_eq!(reply["replayed"], 2, "{reply}");
        let events = ws.events(2).await;
        assert_eq!(events[1]["seq"], json!(last));
        ws.close().await;
    }
    s.finish().await;
}

/// Replays are charged by the events they send, per user: a resubscribe loop runs out, another
/// user's resume does not.
#[tokio::test]
async fn replays_are_limited_by_the_events_they_send() {
    let config = GatewayConfig {
        rate: RateLimits {
            rate_replay: "30/1m".parse().expect("rate"),
            ..RateLimits::off()
        },
        ..natter_testkit::gateway_config()
    };
    let s = crate::Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let room = alice.create_room("r", "public").await;
    let mut first = 0;
    for i in 0..20 {
        let seq = alice.send(room, &format!("m{i}"), "x").await;
        if i == 0 {
            first = seq;
        }
    }
    let resume = |ws: &mut natter_testkit::Ws| {
        let epoch = ws.hello["epoch"].clone();
        json!({"type": "subscribe", "room_id": room, "since": first - 1, "epoch": epoch})
    };
    let mut ws = s.ws(&alice).await;
    let frame = resume(&mut ws);
    let reply = ws.ok(frame.clone()).await;
    assert_eq!(reply["replayed"], 20, "{reply}");
    ws.ok(json!({"type": "unsubscribe", "room_id": room})).await;
    let reply = ws.ok(frame.clone()).await;
    assert_eq!(reply["replayed"], 20, "within the burst: {reply}");
    ws.ok(json!({"type": "unsubscribe", "room_id": room})).await;
    let refused = ws.request(frame).await;
    assert_eq!(refused["error"]["code"], "rate_limited", "{refused}");
    assert!(refused["error"]["retry_after_ms"].as_u64() > Some(0));
    // A live subscription without `since` is not a replay.
    ws.ok(json!({"type": "subscribe", "room_id": room})).await;
    let mut other = s.ws(&bob).await;
    let frame = resume(&mut other);
    let reply = other.ok(frame).await;
    assert_eq!(reply["replayed"], 20);
    // Sockets resuming at the same moment are counted one after another too.
    let carol = s.user("carol").await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        sockets.push(s.ws(&carol).await);
    }
    let replies = futures::future::join_all(sockets.iter_mut().map(|ws| {
        let frame = resume(ws);
        async move { ws.request(frame).await }
    }))
    .await;
    let accepted = replies.iter().filter(|r| r["ok"] == true).count();
    assert_eq!(accepted, 2, "{replies:?}");
    s.finish().await;
}

/// Resuming sockets that missed nothing (most of a reconnect storm after a gateway restart)
/// are recovered without a consumer made on the stream for each: the stream is asked once
/// whether the room has an event in the stretch. One that did miss something still gets it.
#[tokio::test]
async fn a_resume_that_missed_nothing_makes_no_consumer() {
    const SOCKETS: usize = 10;
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let first = alice.send(room, "m1", "before").await;
    let mut watcher = s.ws(&alice).await;
    let reply = watcher.subscribe(room).await;
    let (since, epoch) = (reply["last_seq"].clone(), reply["epoch"].clone());

    let bus = s.env.bus().await;
    let consumers = || consumer_count(&bus);
    let before = consumers().await;
    let mut sockets = Vec::new();
    for _ in 0..SOCKETS {
        let mut ws = s.ws(&alice).await;
        let reply = ws
            .ok(json!({"type": "subscribe", "room_id": room, "since": since, "epoch": epoch}))
            .await;
        assert_eq!(reply["recovered"], true, "{reply}");
        sockets.push(ws);
    }
    assert_eq!(
        consumers().await,
        before,
        "a consumer per resume that missed nothing"
    );

    // Live delivery goes on for every one of them.
    let next = alice.send(room, "m2", "after").await;
    for ws in &mut sockets {
        let event = ws.next_of("event").await;
        assert_eq!(event["seq"].as_u64(), Some(next), "{event}");
    }
    // A socket that missed the last message gets it from the log.
    let mut late = s.ws(&alice).await;
    late.ok(json!({"type": "subscribe", "room_id": room, "since": first, "epoch": epoch}))
        .await;
    let event = late.next_of("event").await;
    assert!(event["seq"].as_u64().expect("seq") > first, "{event}");
    s.finish().await;
}

/// Callers asking at once for the same stretch of a room up to their live feed (the sockets of
/// a room that a reconnect storm resumes from one seq) read it once, with one consumer, and
/// each gets every event of it.
#[tokio::test]
async fn replays_of_one_stretch_asked_at_once_are_read_once() {
    const CALLERS: usize = 10;
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let since = alice.send(room, "m0", "before").await;
    let mut sent = Vec::new();
    for i in 1..=5 {
        sent.push(alice.send(room, &format!("m{i}"), "missed").await);
    }
    let live_after = *sent.last().expect("sent");

    let bus = s.env.bus().await;
    let consumers = || consumer_count(&bus);
    let before = consumers().await;
    let replays = futures::future::join_all(
        (0..CALLERS)
            .map(|_| bus.replay_room(room, since, Some(live_after), 100, Duration::from_secs(10))),
    )
    .await;
    for replay in replays {
        let natter_bus::Replay::Events(events) = replay.expect("replay") else {
            panic!("too many");
        };
        let seqs: Vec<u64> = events.iter().map(|(seq, _)| *seq).collect();
        let posted: Vec<u64> = seqs.iter().copied().filter(|s| sent.contains(s)).collect();
        assert_eq!(posted, sent, "every missed post, in order");
        assert!(
            seqs.iter().all(|s| *s > since && *s <= live_after),
            "{seqs:?}"
        );
    }
    assert_eq!(
        consumers().await,
        before + 1,
        "one consumer for all the callers"
    );
    s.finish().await;
}

/// How many consumers the log's stream has (replays make ordered ones).
async fn consumer_count(bus: &natter_bus::Bus) -> usize {
    async_nats::jetstream::new(bus.client().clone())
        .get_stream(bus.subjects().stream_name())
        .await
        .expect("stream")
        .info()
        .await
        .expect("info")
        .state
        .consumer_count
}
