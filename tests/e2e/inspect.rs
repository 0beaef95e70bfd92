//! Operator views of the read models: `rooms show --at` (time travel) and `projections status`.

use std::time::Duration;

use natter_projections::history::History;
use natter_projector::tools;
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_testkit::{NatterProcess, TestEnv};
use serde_json::json;
use uuid::Uuid;

use crate::Setup;
use crate::replay::{caught_up, rebuild, shadow_schemas};

/// `natter rooms show --at` replays a room to any seq: its members before and after a kick;
/// `natter events dump|stats|tail` show the same log.
#[tokio::test]
async fn time_travel_shows_membership_before_and_after_a_kick() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let room = alice.create_room("travel", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let before = alice.send(room, "b", "before the kick").await;
    let (status, _) = alice
        .delete(&format!("/v1/rooms/{room}/members/{}", bob.id()))
        .await;
    assert_eq!(status.as_u16(), 204);
    let after = alice.send(room, "a", "after the kick").await;
    let pool = s.env.pool().await;
    let bus = s.env.bus().await;
    let head = caught_up(&s.env, &pool).await;

    // What a killed time travel would leave; the next one sweeps it.
    sqlx::query("CREATE SCHEMA natter_at_leftover")
        .execute(&pool)
        .await
        .expect("leftover");
    let names = |r: &tools::RoomAt| -> Vec<String> {
        r.members
            .iter()
            .filter_map(|m| m.username.clone())
            .collect()
    };
    let then = tools::room_at(&bus, &pool, room, Some(before))
        .await
        .expect("at");
    assert_eq!(names(&then), ["alice", "bob"]);
    assert_eq!((then.messages, then.at), (1, before));
    let now = tools::room_at(&bus, &pool, room, Some(after))
        .await
        .expect("at");
    assert_eq!(names(&now), ["alice"]);
    assert_eq!(now.messages, 2);
    let first = tools::room_at(&bus, &pool, room, Some(1))
        .await
        .expect("at");
    assert!(first.room.is_none(), "the room did not exist at seq 1");
    assert!(
        shadow_schemas(&pool).await.is_empty(),
        "scratch tables dropped"
    );

    let run = |args: Vec<String>| {
        let mut command = NatterProcess::command(&s.env);
        command.args(args);
        async move {
            let out = command.output().await.expect("run natter");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let shown = run(args(&[
        "rooms",
        "show",
        &room.to_string(),
        "--at",
        &before.to_string(),
    ]))
    .await;
    assert!(
        shown.contains("bob") && shown.contains("members (2)"),
        "{shown}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&run(args(&["rooms", "show", &room.to_string(), "--json"])).await)
            .expect("json");
    assert_eq!(
        shown["members"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );

    let dump = run(args(&[
        "events",
        "dump",
        "--from",
        "2",
        "--to",
        &after.to_string(),
    ]))
    .await;
    let lines: Vec<serde_json::Value> = dump
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let seqs: Vec<u64> = lines.iter().filter_map(|l| l["seq"].as_u64()).collect();
    assert_eq!(seqs, (2..=after).collect::<Vec<_>>());
    assert!(lines.iter().any(|l| l["event"]["type"] == "member.kicked"));
    let stats: serde_json::Value =
        serde_json::from_str(&run(args(&["events", "stats", "--json"])).await).expect("json");
    assert_eq!(stats["events"].as_u64(), Some(head), "{stats}");
    let posted = stats["types"]
        .as_array()
        .expect("types")
        .iter()
        .find(|t| t["type"] == "message.posted")
        .expect("message.posted");
    assert_eq!(posted["count"], 2, "{stats}");

    // tail: only this room's messages, as they come.
    let other = alice.create_room("other", "public").await;
    let mut tail = NatterProcess::command(&s.env)
        .args([
            "events",
            "tail",
            "--room",
            &room.to_string(),
            "--type",
            "message.posted",
            "--unseal",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("tail");
    use tokio::io::AsyncBufReadExt;
    let mut logs = tokio::io::BufReader::new(tail.stderr.take().expect("stderr")).lines();
    while let Ok(Some(line)) = logs.next_line().await {
        if line.contains("following the log") {
            break;
        }
    }
    alice.send(other, "o", "elsewhere").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let seq = alice.send(room, "t", "tailed").await;
    let mut out = tokio::io::BufReader::new(tail.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), out.next_line())
        .await
        .expect("a line in time")
        .expect("read")
        .expect("line");
    let line: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(line["seq"].as_u64(), Some(seq), "{line}");
    assert_eq!(line["event"]["data"]["body"], "tailed", "unsealed");
    tail.start_kill().expect("stop tail");
    pool.close().await;
    s.finish().await;
}

/// `status` tells a projection that is not applying the log (no projector running) and one
/// whose projector fails, from one that is live.
#[tokio::test]
async fn status_tells_behind_and_failed_from_live() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let pool = env.pool().await;
    let user = Uuid::now_v7();
    let mut event = Event::new(
        user,
        None,
        EventBody::UserRegistered(natter_schemas::event::UserRegistered {
            user_id: user,
            username: "waiting".into(),
            display_name: "Waiting".into(),
            credentials: natter_schemas::event::Credentials::Password { hash: "h".into() },
        }),
    );
    event.occurred_at -= chrono::Duration::seconds(60);
    bus.append(bus.subjects().username_claim("waiting"), &event, None, true)
        .await
        .expect("append");
    let status = tools::status(&bus, &pool, &History).await.expect("status");
    assert_eq!(status.state, "behind", "{status:?}");
    assert_eq!(
        (status.checkpoint, status.last_seq, status.lag_events),
        (0, 1, 1)
    );
    assert!(status.lag_seconds >= 59.0, "{status:?}");

    natter_projections::record_failure(&pool, History::NAME, "disk full")
        .await
        .expect("record");
    let status = tools::status(&bus, &pool, &History).await.expect("status");
    assert_eq!(status.state, "failed", "{status:?}");
    assert_eq!(status.error.as_deref(), Some("disk full"));

    rebuild(&env, &pool, &History, 10).await.expect("rebuild");
    let status = tools::status(&bus, &pool, &History).await.expect("status");
    assert_eq!(
        (status.state.as_str(), status.lag_events),
        ("live", 0),
        "{status:?}"
    );
    assert_eq!(status.error, None, "the swap clears the error");
    pool.close().await;
    env.cleanup().await;
}
