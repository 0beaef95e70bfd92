//! A reconnect storm.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use natter_testkit::{Api, Natter, TestEnv, Ws};
use serde_json::json;
use uuid::Uuid;

/// A reconnect storm: 1,000 sockets that missed events all resume at once with `since`;
/// every one is recovered with exactly what it missed, in order.
#[tokio::test]
async fn a_storm_of_1000_sockets_resuming_at_once_recovers_every_one() {
    const SOCKETS: usize = 1000;
    const ROOMS: usize = 10;
    const MISSED: usize = 5;
    let env = TestEnv::new().await;
    let config = natter_gateway::GatewayConfig {
        max_connections_per_user: SOCKETS + 10,
        ..natter_testkit::gateway_config()
    };
    let natter = Natter::start_role(&env, natter_testkit::Role::All, config).await;
    let alice = Api::register(&natter.base, "alice").await;
    let mut rooms = Vec::new();
    for r in 0..ROOMS {
        rooms.push(alice.create_room(&format!("r{r}"), "public").await);
    }
    // Each socket's room and where it left off.
    let mut left_at = Vec::new();
    let mut epoch = String::new();
    for i in 0..SOCKETS {
        let room = rooms[i % ROOMS];
        let mut ws = Ws::connect(&natter.ws_url(), alice.token())
            .await
            .expect("ws");
        let reply = ws.subscribe(room).await;
        epoch = reply["epoch"].as_str().expect("epoch").to_owned();
        left_at.push((room, reply["last_seq"].as_u64().expect("last_seq")));
        ws.close().await;
    }
    let mut missed: BTreeMap<Uuid, Vec<u64>> = BTreeMap::new();
    for room in &rooms {
        for m in 0..MISSED {
            let seq = alice
                .send(*room, &format!("{room}-{m}"), "while away")
                .await;
            missed.entry(*room).or_default().push(seq);
        }
    }
    let started = Instant::now();
    let resumes = left_at.into_iter().map(|(room, since)| {
        let (url, token, epoch) = (natter.ws_url(), alice.token().to_owned(), epoch.clone());
        tokio::spawn(async move {
            let mut ws = Ws::connect(&url, &token).await.expect("reconnect");
            // As a client should: `unavailable` (the database's pool was busy for longer than
            // its acquire timeout, which a machine running the whole suite can make happen)
            // is retried after a moment, with the same `since`.
            let mut retries = 0u32;
            let reply = loop {
                let frame =
                    json!({"type": "subscribe", "room_id": room, "since": since, "epoch": epoch});
                let reply = ws.request(frame).await;
                if reply["ok"] == true {
                    break reply["data"].clone();
                }
                assert_eq!(reply["error"]["code"], "unavailable", "{reply}");
                assert!(retries < 10, "still unavailable after {retries} retries");
                retries += 1;
                tokio::time::sleep(Duration::from_millis(200 * u64::from(retries))).await;
            };
            let mut seqs = Vec::new();
            while seqs.len() < MISSED {
                let event = ws.next_of("event").await;
                if event["event"]["type"] == "message.posted" {
                    seqs.push(event["seq"].as_u64().expect("seq"));
                }
            }
            ws.close().await;
            (room, reply["recovered"] == true, seqs, retries)
        })
    });
    let results = futures::future::join_all(resumes).await;
    let took = started.elapsed();
    let (mut not_recovered, mut retried) = (0, 0);
    for result in results {
        let (room, recovered, seqs, retries) = result.expect("resume");
        if !recovered {
            not_recovered += 1;
        }
        retried += retries;
        assert_eq!(&seqs, &missed[&room], "exactly what it missed, in order");
    }
    assert_eq!(not_recovered, 0);
    println!(
        "reconnect storm: {SOCKETS} sockets resumed at once, {MISSED} missed each, all recovered in {:.2} s ({retried} subscribes retried after `unavailable`)",
        took.as_secs_f64()
    );
    natter.stop().await;
    env.cleanup().await;
}
