//! Calls over the real surface: signalling relayed between the members of a direct
//! conversation (ringing sockets that subscribed to nothing), refused to outsiders and to
//! those not in the call, rate-limited; the summary in the room's calls once someone hangs up;
//! ICE servers with TURN credentials of the caller's own.

use std::time::Duration;

use natter_actions::ratelimit::Limit;
use natter_realtime::calls::CallsConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Setup;

async fn dm(a: &natter_testkit::Api, b: &natter_testkit::Api) -> Uuid {
    let (status, room) = a.post("/v1/dms", json!({"user_ids": [b.id()]})).await;
    assert!(status.is_success(), "{room}");
    room["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("room id")
}

pub(crate) fn call(room: Uuid, call: Uuid, action: &str) -> Value {
    json!({"type": "call", "room_id": room, "call_id": call, "action": action})
}

fn code(reply: &Value) -> &str {
    reply["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_call_is_signalled_between_its_members_only_and_summarised_when_it_ends() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let eve = s.user("eve").await;
    let room = dm(&alice, &bob).await;
    let mut alice_ws = s.ws(&alice).await;
    // Bob's socket has subscribed to nothing: calls ring anyway.
    let mut bob_ws = s.ws(&bob).await;
    let mut eve_ws = s.ws(&eve).await;
    let id = Uuid::now_v7();

    let mut invite = call(room, id, "invite");
    invite["data"] = json!({"media": "video"});
    alice_ws.ok(invite).await;
    let rung = bob_ws.next_of("call").await;
    assert_eq!(rung["action"], "invite");
    assert_eq!(rung["from"], alice.id().to_string());
    assert_eq!(rung["room_id"], room.to_string());
    assert_eq!(rung["data"]["media"], "video");

    // An outsider cannot signal into the conversation, nor join the call.
    let reply = eve_ws.request(call(room, id, "accept")).await;
    assert_eq!(code(&reply), "not_found", "{reply}");
    // Bob is not in the call until he accepts.
    let mut early = call(room, id, "offer");
    early["to"] = json!(alice.id());
    let reply = bob_ws.request(early).await;
    assert_eq!(code(&reply), "forbidden", "{reply}");

    bob_ws.ok(call(room, id, "accept")).await;
    assert_eq!(alice_ws.next_of("call").await["action"], "accept");
    // Only the caller rings again, and with little data for the whole room.
    let reply = bob_ws.request(call(room, id, "invite")).await;
    assert_eq!(code(&reply), "forbidden", "{reply}");
    let mut loud = call(room, Uuid::now_v7(), "invite");
    loud["data"] = json!({"pad": "x".repeat(5000)});
    let reply = alice_ws.request(loud).await;
    assert_eq!(reply["error"]["field"], "data", "{reply}");
    let mut offer = call(room, id, "offer");
    offer["to"] = json!(bob.id());
    offer["data"] = json!({"type": "offer", "sdp": "v=0\r\n..."});
    alice_ws.ok(offer).await;
    let got = bob_ws.next_of("call").await;
    assert_eq!(got["action"], "offer");
    assert_eq!(got["data"]["sdp"], "v=0\r\n...");
    let mut answer = call(room, id, "answer");
    answer["to"] = json!(alice.id());
    answer["data"] = json!({"type": "answer", "sdp": "v=0\r\n..."});
    bob_ws.ok(answer).await;
    assert_eq!(alice_ws.next_of("call").await["action"], "answer");
    // Directed signals need someone in the call.
    let mut stray = call(room, id, "candidate");
    stray["to"] = json!(eve.id());
    let reply = alice_ws.request(stray).await;
    assert_eq!(code(&reply), "invalid", "{reply}");
    assert_eq!(reply["error"]["field"], "to");
    let reply = alice_ws.request(call(room, id, "candidate")).await;
    assert_eq!(code(&reply), "invalid", "{reply}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    alice_ws.ok(call(room, id, "hangup")).await;
    assert_eq!(bob_ws.next_of("call").await["action"], "hangup");
    // Bob hanging up too ends nothing more.
    bob_ws.ok(call(room, id, "hangup")).await;

    // A missed call: nobody accepts.
    let missed = Uuid::now_v7();
    alice_ws.ok(call(room, missed, "invite")).await;
    alice_ws.ok(call(room, missed, "hangup")).await;

    let calls = natter_testkit::wait_until("the calls", Duration::from_secs(10), || async {
        let (_, list) = bob.get(&format!("/v1/rooms/{room}/calls")).await;
        let calls = list["calls"].as_array().cloned().unwrap_or_default();
        (calls.len() == 2).then_some(calls)
    })
    .await;
    let (missed_call, answered) = (&calls[0], &calls[1]);
    assert_eq!(answered["call_id"], id.to_string());
    assert_eq!(answered["caller"], alice.id().to_string());
    assert_eq!(answered["participants"], json!([bob.id()]));
    assert_eq!(answered["answered"], true);
    assert!(
        answered["duration_secs"].as_u64().is_some_and(|d| d >= 1),
        "{answered}"
    );
    assert_eq!(answered["ended_by"], alice.id().to_string());
    assert_eq!(missed_call["answered"], false);
    assert_eq!(missed_call["duration_secs"], 0);
    // Outsiders do not see the conversation's calls.
    let (status, _) = eve.get(&format!("/v1/rooms/{room}/calls")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The summary is in the log, once: live to the room's subscribers and on resume.
    let mut later = s.ws(&bob).await;
    let replayed = later
        .ok(json!({"type": "subscribe", "room_id": room, "since": 0}))
        .await;
    assert!(replayed.is_object());
    let mut ended = 0;
    for event in later.events(replayed_count(&s, room).await).await {
        if event["event"]["type"] == "call.ended" {
            ended += 1;
        }
    }
    assert_eq!(ended, 2);
    s.finish().await;
}

#[tokio::test]
async fn a_group_call_goes_on_until_one_person_is_left() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let carol = s.user("carol").await;
    let (status, room) = alice
        .post(
            "/v1/rooms",
            json!({"name": "team", "visibility": "private",
                   "member_ids": [bob.id(), carol.id()]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room: Uuid = room["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let (mut a, mut b, mut c) = (s.ws(&alice).await, s.ws(&bob).await, s.ws(&carol).await);
    let id = Uuid::now_v7();
    a.ok(call(room, id, "invite")).await;
    b.ok(call(room, id, "accept")).await;
    c.ok(call(room, id, "accept")).await;
    b.ok(call(room, id, "hangup")).await;
    // Alice and Carol are still in it: they go on signalling; Bob is out of it.
    let mut offer = call(room, id, "offer");
    offer["to"] = json!(alice.id());
    c.ok(offer).await;
    loop {
        let got = a.next_of("call").await;
        if got["action"] == "offer" {
            assert_eq!(got["from"], carol.id().to_string());
            break;
        }
    }
    let mut to_bob = call(room, id, "candidate");
    to_bob["to"] = json!(bob.id());
    let reply = a.request(to_bob).await;
    assert_eq!(reply["error"]["field"], "to", "{reply}");
    a.ok(call(room, id, "hangup")).await;
    let calls = natter_testkit::wait_until("the call", Duration::from_secs(10), || async {
        let (_, list) = carol.get(&format!("/v1/rooms/{room}/calls")).await;
        let calls = list["calls"].as_array().cloned().unwrap_or_default();
        (!calls.is_empty()).then_some(calls)
    })
    .await;
    assert_eq!(calls[0]["participants"], json!([bob.id(), carol.id()]));
    assert_eq!(calls[0]["ended_by"], alice.id().to_string());
    // Carol, the last one in it, hangs up too: nothing more.
    c.ok(call(room, id, "hangup")).await;
    s.finish().await;
}

/// The room's events in the log.
async fn replayed_count(s: &Setup, room: Uuid) -> usize {
    let bus = s.env.bus().await;
    natter_testkit::log_events(&bus)
        .await
        .iter()
        .filter(|(_, e)| e.room_id == Some(room))
        .count()
}

#[tokio::test]
async fn call_signals_are_rate_limited_and_ice_servers_carry_turn_credentials() {
    let mut config = natter_testkit::gateway_config();
    config.rate.rate_calls = "3/1m".parse::<Limit>().expect("limit");
    config.calls = CallsConfig {
        stun_urls: vec!["stun:stun.example.com:3478".into()],
        turn_urls: vec!["turn:turn.example.com:3478".into()],
        turn_secret: Some("a-turn-secret-of-some-length".into()),
        turn_ttl_secs: 600,
    };
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let room = dm(&alice, &bob).await;
    let mut ws = s.ws(&alice).await;
    let id = Uuid::now_v7();
    for _ in 0..3 {
        ws.ok(call(room, id, "invite")).await;
    }
    let reply = ws.request(call(room, id, "invite")).await;
    assert_eq!(code(&reply), "rate_limited", "{reply}");

    let (status, servers) = alice.get("/v1/calls/ice_servers").await;
    assert_eq!(status, StatusCode::OK, "{servers}");
    assert_eq!(
        servers["ice_servers"][0]["urls"],
        json!(["stun:stun.example.com:3478"])
    );
    let turn = &servers["ice_servers"][1];
    let username = turn["username"].as_str().expect("username");
    let (expiry, user) = username.split_once(':').expect("expiry:user");
    assert_eq!(user, alice.id().to_string());
    assert_eq!(servers["expires_at"].as_u64(), expiry.parse().ok());
    assert!(turn["credential"].as_str().is_some_and(|c| c.len() == 28));
    s.finish().await;
}
