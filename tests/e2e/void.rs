//! Void posts: a post whose sender lost the right to post in the room between the seq its
//! check saw (`checked_at`) and its own is shown by no reader of the log: not history, unread
//! or search, not a live socket (on a gateway whose feed saw the loss, or one that began after
//! it), not a resume.

use natter_bus::Bus;
use natter_schemas::Event;
use natter_schemas::event::{EventBody, MessagePosted};
use natter_testkit::{Api, Natter, Role, TestEnv, Ws};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// Appends a post by `sender` whose check saw the log at `checked_at`, as a gateway would.
async fn post(
    bus: &Bus,
    room: Uuid,
    sender: Uuid,
    body: &str,
    checked_at: Option<u64>,
    mentions: Vec<Uuid>,
) -> u64 {
    let event = Event::new(
        sender,
        Some(room),
        EventBody::MessagePosted(MessagePosted {
            message_id: natter_schemas::ids::message_id(sender, body),
            client_msg_id: body.to_owned(),
            body: body.to_owned(),
            thread_root_id: None,
            mentions,
            checked_at,
            attachments: Vec::new(),
            format: Default::default(),
            mention_names: Vec::new(),
            encrypted: None,
        }),
    );
    let subject = bus.subjects().room_event(room, event.type_name());
    bus.append(subject, &event, None, false)
        .await
        .expect("append")
        .seq
}

/// The bodies of the posts among `frames` (room events).
fn bodies(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["event"]["type"] == "message.posted")
        .filter_map(|f| f["event"]["data"]["body"].as_str().map(str::to_owned))
        .collect()
}

/// Room events on `ws` until the post with body `last`.
async fn posts_until(ws: &mut Ws, last: &str) -> Vec<String> {
    let mut frames = Vec::new();
    loop {
        let frame = ws.next_of("event").await;
        let done = frame["event"]["data"]["body"] == last;
        frames.push(frame);
        if done {
            return bodies(&frames);
        }
    }
}

/// The posts a resume from `since` replays.
async fn replayed(ws_url: &str, api: &Api, room: Uuid, since: u64, last: &str) -> Vec<String> {
    let mut ws = Ws::connect(ws_url, api.token()).await.expect("ws");
    let reply = ws
        .request(json!({"type": "subscribe", "room_id": room, "since": since}))
        .await;
    assert_eq!(reply["data"]["recovered"], true, "{reply}");
    posts_until(&mut ws, last).await
}

#[tokio::test]
async fn a_post_whose_sender_lost_the_right_after_its_check_is_shown_nowhere() {
    let env = TestEnv::new().await;
    let a = Natter::start(&env).await;
    let b = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let bus = env.bus().await;
    let alice = Api::register(&a.base, "alice").await;
    let bob = Api::register(&a.base, "bob").await;
    let room = alice.create_room("r", "public").await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // On gateway A the room's feed begins before the kick.
    let mut on_a = Ws::connect(&a.ws_url(), alice.token()).await.expect("ws");
    on_a.subscribe(room).await;
    let before = bus.last_seq().await.expect("head");

    let (status, _) = alice
        .delete(&format!("/v1/rooms/{room}/members/{}", bob.id()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let kicked = bus.last_seq().await.expect("head");
    // On gateway B it begins after it.
    let mut on_b = Ws::connect(&b.ws_url(), alice.token()).await.expect("ws");
    on_b.subscribe(room).await;

    // Checked before the kick, appended after it: void. Checked after it (the rule alone
    // decides here), or from before checks were recorded: kept.
    // Alice is mentioned in both: only the post that stands reaches her as a notice.
    let mut notices = Ws::connect(&a.ws_url(), alice.token()).await.expect("ws");
    let me = vec![alice.id()];
    post(&bus, room, bob.id(), "voided", Some(kicked - 1), me.clone()).await;
    post(&bus, room, bob.id(), "checked-after", Some(kicked), me).await;
    let last = post(&bus, room, bob.id(), "unchecked", None, Vec::new()).await;
    let kept = vec!["checked-after".to_owned(), "unchecked".to_owned()];

    let notice = notices.next_of("notice").await;
    assert_eq!(
        notice["event"]["data"]["body"], "checked-after",
        "the void post's notice came first: {notice}"
    );
    assert_eq!(posts_until(&mut on_a, "unchecked").await, kept, "live on A");
    assert_eq!(posts_until(&mut on_b, "unchecked").await, kept, "live on B");
    // Resumes: the kick inside the stretch, and before it (from the history read model).
    assert_eq!(
        replayed(&a.ws_url(), &alice, room, before, "unchecked").await,
        kept
    );
    assert_eq!(
        replayed(&b.ws_url(), &alice, room, kicked, "unchecked").await,
        kept
    );

    let history = alice.history_bodies(room, last).await;
    assert!(!history.iter().any(|b| b == "voided"), "{history:?}");
    for kept in ["checked-after", "unchecked"] {
        assert!(history.iter().any(|b| b == kept), "{kept}: {history:?}");
    }
    let (_, unread) = alice.get(&format!("/v1/unread?min_seq={last}")).await;
    assert_eq!(unread["rooms"][0]["unread"], 2, "{unread}");
    let (_, found) = alice
        .get(&format!("/v1/search?q=voided&min_seq={last}"))
        .await;
    assert_eq!(found["results"], json!([]), "{found}");
    let (_, found) = alice
        .get(&format!("/v1/search?q=unchecked&min_seq={last}"))
        .await;
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(1),
        "{found}"
    );

    // Archiving takes everyone's right: a post checked before it is void too.
    let (status, _) = alice.delete(&format!("/v1/rooms/{room}")).await;
    assert!(status.is_success(), "{status}");
    let archived = bus.last_seq().await.expect("head");
    let last = post(
        &bus,
        room,
        alice.id(),
        "after-archive",
        Some(archived - 1),
        Vec::new(),
    )
    .await;
    let history = alice.history_bodies(room, last).await;
    assert!(!history.iter().any(|b| b == "after-archive"), "{history:?}");
    env.cleanup().await;
}

/// A send checked against a read model that had not seen the sender's kick yet is appended
/// after it: the gateway whose feed has the kick answers `forbidden` instead of an ack, and the
/// post is void everywhere.
#[tokio::test]
async fn a_send_that_lands_after_its_senders_kick_is_refused_not_acked() {
    let env = TestEnv::new().await;
    let config = natter_gateway::GatewayConfig {
        // Checked in PostgreSQL, which is made to lag below; short read-your-writes waits.
        send_check_from_memory: false,
        read_wait_ms: 300,
        ..natter_testkit::gateway_config()
    };
    let projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let _fanout = Natter::start_role(&env, Role::Fanout, natter_testkit::gateway_config()).await;
    let gateway = Natter::start_role(&env, Role::Gateway, config).await;
    let bus = env.bus().await;
    let alice = Api::register(&gateway.base, "alice").await;
    let bob = Api::register(&gateway.base, "bob").await;
    let room = alice.create_room("r", "public").await;
    let (status, _) = bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let mut on = Ws::connect(&gateway.ws_url(), alice.token())
        .await
        .expect("ws");
    on.subscribe(room).await;

    // The read models stop; the kick is appended all the same (its reply waits for them in
    // vain), and the gateway's feed delivers it.
    projector.stop().await;
    let (status, reply) = alice
        .delete(&format!("/v1/rooms/{room}/members/{}", bob.id()))
        .await;
    assert!(
        status == StatusCode::SERVICE_UNAVAILABLE || status.is_success(),
        "{status} {reply}"
    );
    let kicked = bus.last_seq().await.expect("head");
    loop {
        let frame = on.next_of("event").await;
        if frame["seq"] == kicked {
            break;
        }
    }
    let (status, reply) = bob
        .post(
            &format!("/v1/rooms/{room}/messages"),
            json!({"client_msg_id": "late", "body": "late"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    let late = bus.last_seq().await.expect("head");
    assert!(late > kicked, "the post was appended");

    let _projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let history = alice.history_bodies(room, late).await;
    assert!(!history.iter().any(|b| b == "late"), "{history:?}");
    env.cleanup().await;
}
