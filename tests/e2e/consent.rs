//! Consent on every path (see PROTOCOL's "Blocks and requests"): a block keeps the blocked
//! from ringing the blocker and from putting them in rooms (answered as an unknown user is);
//! an add from someone not accepted waits in the requests of a user who asked for them; a
//! person is seen (presence) only through a room they chose; a conversation that waits cannot
//! ring.

use std::time::Duration;

use natter_testkit::Api;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::calls::call;
use crate::{Setup, id_of, room_ids};

async fn status_of(viewer: &Api, user: &Api) -> String {
    let (_, seen) = viewer
        .get(&format!("/v1/presence?user_ids={}", user.id()))
        .await;
    seen["users"][0]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_blocked_user_cannot_ring_the_blocker_nor_put_them_in_rooms() {
    let s = Setup::new().await;
    let bella = s.user("bella").await;
    let xavi = s.user("xavi").await;
    let carl = s.user("carl").await;
    let lobby = carl.create_room("lobby", "public").await;
    for user in [&bella, &xavi] {
        let (status, _) = user
            .post(&format!("/v1/rooms/{lobby}/join"), json!({}))
            .await;
        assert!(status.is_success());
    }
    let (_, dm) = xavi
        .post("/v1/dms", json!({"user_ids": [bella.id()]}))
        .await;
    let dm = id_of(&dm);
    let (status, _) = bella
        .put(&format!("/v1/me/blocks/{}", xavi.id()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Calls: in the conversation the block froze, `forbidden` like a post; in a shared room,
    // Carl is rung and Bella is not.
    let mut bella_ws = s.ws(&bella).await;
    let mut carl_ws = s.ws(&carl).await;
    let mut xavi_ws = s.ws(&xavi).await;
    let reply = xavi_ws.request(call(dm, Uuid::now_v7(), "invite")).await;
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    let ring = Uuid::now_v7();
    xavi_ws.ok(call(lobby, ring, "invite")).await;
    assert_eq!(carl_ws.next_of("call").await["from"], json!(xavi.id()));
    carl_ws.ok(call(lobby, ring, "accept")).await;
    // Bella was not rung: she cannot take part in the call either.
    let reply = bella_ws.request(call(lobby, ring, "accept")).await;
    assert_eq!(reply["error"]["code"], "not_found", "{reply}");
    let mut offer = call(lobby, ring, "offer");
    offer["to"] = json!(bella.id());
    let reply = xavi_ws.request(offer).await;
    assert_eq!(
        reply["error"]["field"], "to",
        "Bella is not in reach: {reply}"
    );
    xavi_ws.ok(call(lobby, ring, "hangup")).await;
    let frames = bella_ws.drain(Duration::from_millis(700)).await;
    assert!(
        frames.iter().all(|f| f["type"] != "call"),
        "Bella was signalled: {frames:?}"
    );

    // Rooms: refused exactly as an unknown user is, at creation and by an add.
    let create = |member: Uuid| json!({"name": "let me in", "visibility": "private", "member_ids": [member]});
    let blocked = xavi
        .request_text(Method::POST, "/v1/rooms", Some(create(bella.id())))
        .await;
    let unknown = xavi
        .request_text(Method::POST, "/v1/rooms", Some(create(Uuid::now_v7())))
        .await;
    assert_eq!(blocked.0, StatusCode::BAD_REQUEST, "{}", blocked.1);
    assert_eq!(blocked, unknown);
    let own = xavi.create_room("mine", "private").await;
    let path = format!("/v1/rooms/{own}/members");
    let blocked = xavi
        .request_text(Method::POST, &path, Some(json!({"user_id": bella.id()})))
        .await;
    let unknown = xavi
        .request_text(
            Method::POST,
            &path,
            Some(json!({"user_id": Uuid::now_v7()})),
        )
        .await;
    assert_eq!(blocked.0, StatusCode::NOT_FOUND, "{}", blocked.1);
    assert_eq!(blocked, unknown);
    // The blocker cannot put the blocked in rooms either (no channel either way).
    let (status, _) = bella.post("/v1/rooms", create(xavi.id())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, rooms) = bella.get("/v1/rooms").await;
    assert_eq!(
        room_ids(&rooms).len(),
        2,
        "the lobby and the frozen DM: {rooms}"
    );
    let notices = bella_ws.drain(Duration::from_millis(300)).await;
    assert!(
        notices.iter().all(|f| f["type"] != "notice"
            || f["event"]["type"] != "room.created"
            || f["event"]["actor_id"] != json!(xavi.id())),
        "no room of Xavi's reached Bella: {notices:?}"
    );
    s.env.cleanup().await;
}

#[tokio::test]
async fn an_add_from_someone_not_accepted_waits_as_a_request() {
    let s = Setup::new().await;
    let sara = s.user("sara").await;
    let tom = s.user("tom").await;
    let fran = s.user("fran").await;
    let (status, _) = sara
        .patch("/v1/me/settings", json!({"dm_requests": true}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Tom, a stranger, makes a room around Sara: it waits in her requests, and a conversation
    // he opens after it still waits (a room he put her in is not her choice).
    let (status, room) = tom
        .post(
            "/v1/rooms",
            json!({"name": "surprise", "visibility": "private", "member_ids": [sara.id()]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room = id_of(&room);
    let (_, members) = tom.get(&format!("/v1/rooms/{room}/members")).await;
    let sara_member = members["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["user_id"] == json!(sara.id())).cloned())
        .expect("Sara listed");
    assert_eq!(sara_member["origin"], "added", "{sara_member}");
    assert_eq!(sara_member["added_by"], json!(tom.id()));
    assert_eq!(sara_member["pending"], true);
    let (_, dm) = tom.post("/v1/dms", json!({"user_ids": [sara.id()]})).await;
    let dm = id_of(&dm);
    tom.send(dm, "t1", "hello?").await;
    let (_, joined) = sara.get("/v1/rooms").await;
    assert!(room_ids(&joined).is_empty(), "{joined}");
    let (_, requests) = sara.get("/v1/rooms?scope=requests").await;
    let mut waiting = room_ids(&requests);
    waiting.sort_unstable();
    let mut expected = vec![room, dm];
    expected.sort_unstable();
    assert_eq!(waiting, expected, "{requests}");

    // An add into a room of Fran's: likewise a request.
    let club = fran.create_room("club", "private").await;
    let (status, added) = fran
        .post(
            &format!("/v1/rooms/{club}/members"),
            json!({"user_id": sara.id()}),
        )
        .await;
    assert!(status.is_success(), "{added}");
    assert_eq!(added["pending"], true, "{added}");

    // A waiting conversation does not ring Sara.
    let mut sara_ws = s.ws(&sara).await;
    let mut tom_ws = s.ws(&tom).await;
    let reply = tom_ws.request(call(dm, Uuid::now_v7(), "invite")).await;
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    assert!(
        sara_ws
            .drain(Duration::from_millis(500))
            .await
            .iter()
            .all(|f| f["type"] != "call")
    );

    // Accepted, it is hers: listed among her rooms, and Tom may ring and add her.
    let (status, accepted) = sara
        .post(&format!("/v1/rooms/{room}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (_, joined) = sara.get("/v1/rooms").await;
    assert_eq!(room_ids(&joined), [room], "{joined}");
    let (_, members) = tom.get(&format!("/v1/rooms/{room}/members")).await;
    assert!(
        members["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["user_id"] == json!(sara.id()) && m["origin"] == "accepted"),
        "{members}"
    );
    let (_, again) = tom
        .post(
            "/v1/rooms",
            json!({"name": "again", "visibility": "private", "member_ids": [sara.id()]}),
        )
        .await;
    let (_, joined) = sara.get("/v1/rooms").await;
    assert!(room_ids(&joined).contains(&id_of(&again)), "{joined}");
    s.env.cleanup().await;
}

#[tokio::test]
async fn a_person_is_seen_only_through_a_room_they_chose() {
    let s = Setup::new().await;
    let vera = s.user("vera").await;
    let walt = s.user("walt").await;
    let mut vera_ws = s.ws(&vera).await;
    vera_ws
        .ok(json!({"type": "presence", "status": "busy", "text": "at home"}))
        .await;
    assert_eq!(status_of(&walt, &vera).await, "offline", "strangers");

    // Walt puts Vera in a room, and opens a conversation with her (default settings): neither
    // shows her to him. She sees him: he chose both.
    let room = walt.create_room("watch", "private").await;
    let (status, _) = walt
        .post(
            &format!("/v1/rooms/{room}/members"),
            json!({"user_id": vera.id()}),
        )
        .await;
    assert!(status.is_success());
    let (_, dm) = walt.post("/v1/dms", json!({"user_ids": [vera.id()]})).await;
    let dm = id_of(&dm);
    let _walt_ws = s.ws(&walt).await;
    assert_eq!(status_of(&walt, &vera).await, "offline");
    let (status, _) = vera
        .put(
            "/v1/me/keys/phone",
            json!({"algorithm": "x25519", "public_key": "cGhvbmUta2V5"}),
        )
        .await;
    assert!(status.is_success());
    let (_, keys) = walt.get(&format!("/v1/users/{}/keys", vera.id())).await;
    assert_eq!(keys["error"]["code"], "not_found", "{keys}");
    let (_, keys) = walt.get(&format!("/v1/rooms/{room}/keys")).await;
    assert_eq!(
        keys["keys"],
        json!([]),
        "not through the room either: {keys}"
    );
    let (_, here) = walt.get(&format!("/v1/rooms/{room}/presence")).await;
    assert_eq!(here["online"], 1, "Walt alone: {here}");
    assert_eq!(status_of(&vera, &walt).await, "online");
    let mut follow = s.ws(&walt).await;
    let reply = follow
        .ok(json!({"type": "presence_subscribe", "user_ids": [vera.id()]}))
        .await;
    assert_eq!(reply["users"][0]["status"], "offline", "{reply}");

    // Once she answers in the conversation, it is hers: he sees her (once the read model has
    // her post).
    vera.send(dm, "v1", "hi").await;
    natter_testkit::wait_until("Vera seen", Duration::from_secs(10), || async {
        (status_of(&walt, &vera).await == "busy").then_some(())
    })
    .await;
    let (_, here) = walt.get(&format!("/v1/rooms/{room}/presence")).await;
    assert_eq!(here["online"], 2, "{here}");
    let (_, keys) = walt.get(&format!("/v1/users/{}/keys", vera.id())).await;
    assert_eq!(keys["keys"][0]["key_id"], "phone", "{keys}");
    s.env.cleanup().await;
}

/// Leaving a call is never refused: a block that lands during a call does not keep the other
/// in it, and the call is summarised once both are out.
#[tokio::test]
async fn a_block_during_a_call_does_not_keep_anyone_in_it() {
    let s = Setup::new().await;
    let una = s.user("una").await;
    let vic = s.user("vic").await;
    let (_, dm) = una.post("/v1/dms", json!({"user_ids": [vic.id()]})).await;
    let dm = id_of(&dm);
    let mut una_ws = s.ws(&una).await;
    let mut vic_ws = s.ws(&vic).await;
    let id = Uuid::now_v7();
    una_ws.ok(call(dm, id, "invite")).await;
    assert_eq!(vic_ws.next_of("call").await["action"], "invite");
    vic_ws.ok(call(dm, id, "accept")).await;
    let (status, _) = vic
        .put(&format!("/v1/me/blocks/{}", una.id()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let reply = una_ws.request(call(dm, Uuid::now_v7(), "invite")).await;
    assert_eq!(reply["error"]["code"], "forbidden", "no new call: {reply}");
    una_ws.ok(call(dm, id, "hangup")).await;
    vic_ws.ok(call(dm, id, "hangup")).await;
    natter_testkit::wait_until("the call's summary", Duration::from_secs(10), || async {
        let (_, calls) = una.get(&format!("/v1/rooms/{dm}/calls")).await;
        (calls["calls"].as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;
    s.env.cleanup().await;
}

#[tokio::test]
async fn an_unanswered_request_shows_nothing_of_the_recipient() {
    let s = Setup::new().await;
    let sam = s.user("sam").await;
    let tia = s.user("tia").await;
    sam.patch("/v1/me/settings", json!({"dm_requests": true}))
        .await;
    let _sam_ws = s.ws(&sam).await;
    let (_, dm) = tia.post("/v1/dms", json!({"user_ids": [sam.id()]})).await;
    let dm = id_of(&dm);
    assert_eq!(status_of(&tia, &sam).await, "offline");
    let (status, _) = sam.post(&format!("/v1/rooms/{dm}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_of(&tia, &sam).await, "online");
    s.env.cleanup().await;
}

/// A block that lands between an append and its delivery holds: with the fan-out stopped,
/// Xavi posts in a room Bella reads, then Bella blocks him; once the fan-out delivers (the post
/// first, in log order), her socket is not given his post, while Carl's after it arrives.
#[tokio::test]
async fn a_block_between_an_append_and_its_delivery_holds() {
    use natter_testkit::{Natter, Role, TestEnv, Ws};
    let env = TestEnv::new().await;
    let config = natter_testkit::gateway_config;
    let projector = Natter::start_role(&env, Role::Projector, config()).await;
    let fanout = Natter::start_role(&env, Role::Fanout, config()).await;
    let gateway = Natter::start_role(&env, Role::Gateway, config()).await;
    let bella = Api::register(&gateway.base, "bella").await;
    let xavi = Api::register(&gateway.base, "xavi").await;
    let carl = Api::register(&gateway.base, "carl").await;
    let room = carl.create_room("lobby", "public").await;
    for user in [&bella, &xavi] {
        let (status, _) = user
            .post(&format!("/v1/rooms/{room}/join"), json!({}))
            .await;
        assert!(status.is_success());
    }
    let mut socket = Ws::connect(&gateway.ws_url(), bella.token())
        .await
        .expect("ws");
    socket.subscribe(room).await;

    // The fan-out stops (its consumer stays): the post is in the log, delivered to nobody yet.
    fanout.stop().await;
    xavi.send(room, "x1", "appended before the block").await;
    let (status, _) = bella
        .put(&format!("/v1/me/blocks/{}", xavi.id()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let after = carl.send(room, "c1", "after the block").await;

    let fanout = Natter::start_role(&env, Role::Fanout, config()).await;
    let mut events = Vec::new();
    loop {
        let frame = socket.next_frame().await;
        if frame["type"] != "event" {
            continue;
        }
        let seq = frame["seq"].as_u64();
        events.push(frame);
        if seq == Some(after) {
            break;
        }
    }
    assert!(
        events
            .iter()
            .all(|e| e["event"]["actor_id"] != json!(xavi.id())),
        "Xavi's post reached Bella: {events:?}"
    );
    fanout.stop().await;
    gateway.stop().await;
    projector.stop().await;
    env.cleanup().await;
}
