//! Replay tooling: rebuilds while natter keeps serving and taking writes, verify, a rebuild
//! killed with SIGKILL and run again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use natter_common::Shutdown;
use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::unread::Unread;
use natter_projections::{Projection, checkpoint, shadow};
use natter_projector::tools::{self, RebuildOptions, ToolError};
use natter_schemas::Event;
use natter_schemas::event::{EventBody, MessagePosted};
use natter_testkit::{NatterProcess, TestEnv, wait_until};
use serde_json::json;
use uuid::Uuid;

use crate::Setup;

/// Waits until every projection's checkpoint reaches the log's head.
async fn caught_up(env: &TestEnv, pool: &sqlx::PgPool) -> u64 {
    let head = env.bus().await.last_seq().await.expect("head");
    for name in [History::NAME, Unread::NAME, Search::NAME] {
        wait_until(
            "projections to reach the head",
            Duration::from_secs(30),
            || async { (checkpoint(pool, name).await.ok()? >= head).then_some(()) },
        )
        .await;
    }
    head
}

async fn verify_matches<P: Projection + Clone + 'static>(
    env: &TestEnv,
    pool: &sqlx::PgPool,
    p: &P,
) -> u64 {
    let bus = env.bus().await;
    let verified = tools::verify(
        &bus,
        pool,
        p,
        RebuildOptions::default(),
        &Shutdown::new(),
        &mut |_| {},
    )
    .await
    .expect("verify");
    assert!(
        verified.matches(),
        "{}: live differs from a fresh rebuild: {:?}",
        p.name(),
        verified.tables
    );
    verified.checkpoint
}

async fn rebuild<P: Projection + Clone + 'static>(
    env: &TestEnv,
    pool: &sqlx::PgPool,
    p: &P,
    batch: usize,
) -> Result<tools::Rebuilt, ToolError> {
    let bus = env.bus().await;
    tools::rebuild(
        &bus,
        pool,
        p,
        RebuildOptions { batch },
        &Shutdown::new(),
        &mut |_| {},
    )
    .await
}

/// Every index of the live schema, with its definition.
async fn live_indexes(pool: &sqlx::PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes
         WHERE schemaname = current_schema() ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("indexes")
}

async fn shadow_schemas(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'natter\\_%'")
        .fetch_all(pool)
        .await
        .expect("schemas")
}

/// Every projection rebuilt (small batches, so many transactions) while a client keeps sending
/// and another keeps reading: reads never fail, no write is lost, and afterwards each read
/// model equals a fresh rebuild from the log.
#[tokio::test]
async fn rebuild_while_writes_continue_ends_equal_to_a_fresh_verify() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let room = alice.create_room("r", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let mut first = 0;
    for i in 0..60 {
        let seq = alice
            .send(room, &format!("a{i}"), &format!("hello @bob number {i}"))
            .await;
        first = first.max(seq);
    }
    let (_, page) = bob.get(&format!("/v1/rooms/{room}/messages?limit=5")).await;
    let id = page["messages"][0]["id"].as_str().expect("id").to_owned();
    bob.put(
        &format!("/v1/rooms/{room}/messages/{id}/reactions/👍"),
        json!({}),
    )
    .await;
    bob.post(&format!("/v1/rooms/{room}/read"), json!({"seq": first}))
        .await;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (alice, stop) = (alice.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                alice
                    .send(room, &format!("w{sent}"), "written during a rebuild")
                    .await;
                sent += 1;
            }
            sent
        })
    };
    let failed_reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (bob, stop, failed) = (bob.clone(), stop.clone(), failed_reads.clone());
        tokio::spawn(async move {
            let mut reads = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for path in [
                    format!("/v1/rooms/{room}/messages?limit=20"),
                    "/v1/unread".to_owned(),
                    "/v1/search?q=hello".to_owned(),
                ] {
                    let (status, body) = bob.get(&path).await;
                    if !status.is_success() {
                        eprintln!("read {path} failed during the rebuild: {status} {body}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    reads += 1;
                }
            }
            reads
        })
    };

    let pool = s.env.pool().await;
    let bus = s.env.bus().await;
    let indexes = live_indexes(&pool).await;
    for p in [
        History.deferred_indexes(),
        Unread.deferred_indexes(),
        Search::default().deferred_indexes(),
    ] {
        for name in p {
            assert!(
                indexes.iter().any(|(n, _)| n == name),
                "deferred index {name} exists"
            );
        }
    }
    let mut writes_seen = 0;
    for round in 0..2 {
        let before = bus.last_seq().await.expect("head");
        let history = rebuild(&s.env, &pool, &History, 7).await.expect("history");
        let unread = rebuild(&s.env, &pool, &Unread, 7).await.expect("unread");
        let search = rebuild(&s.env, &pool, &Search::default(), 7)
            .await
            .expect("search");
        let after = bus.last_seq().await.expect("head");
        assert!(history.checkpoint >= before && unread.checkpoint >= before);
        assert!(search.checkpoint >= before, "round {round}");
        writes_seen += after - before;
    }
    // Verify while the writes go on: the live model moves during it, and still matches.
    for _ in 0..3 {
        verify_matches(&s.env, &pool, &History).await;
        verify_matches(&s.env, &pool, &Unread).await;
    }
    stop.store(true, Ordering::Relaxed);
    let sent = writer.await.expect("writer");
    let reads = reader.await.expect("reader");
    assert!(writes_seen > 0, "the log grew while rebuilding");
    assert_eq!(failed_reads.load(Ordering::Relaxed), 0, "of {reads} reads");

    let head = caught_up(&s.env, &pool).await;
    assert!(verify_matches(&s.env, &pool, &History).await >= head);
    assert!(verify_matches(&s.env, &pool, &Unread).await >= head);
    assert!(verify_matches(&s.env, &pool, &Search::default()).await >= head);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE room_id = $1")
        .bind(room)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(
        stored,
        60 + sent as i64,
        "every message sent is stored once"
    );
    let (_, unread) = bob.get("/v1/unread").await;
    assert_eq!(
        unread["rooms"][0]["unread"].as_u64(),
        Some(sent as u64),
        "bob read up to the first 60: {unread}"
    );
    assert!(
        shadow_schemas(&pool).await.is_empty(),
        "nothing left behind"
    );
    assert_eq!(
        live_indexes(&pool).await,
        indexes,
        "the same indexes, under the same names"
    );
    pool.close().await;
    s.finish().await;
}

/// `natter projections verify` passes on an untouched read model, exits 1 naming the table
/// and the row when a row was changed behind the projector's back, and `rebuild` repairs it.
#[tokio::test]
async fn verify_catches_a_tampered_row_and_rebuild_repairs_it() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    for i in 0..20 {
        alice
            .send(room, &format!("m{i}"), &format!("message {i}"))
            .await;
    }
    let pool = s.env.pool().await;
    let head = caught_up(&s.env, &pool).await;
    let run = |args: &'static [&'static str]| {
        let mut command = NatterProcess::command(&s.env);
        command.args(args);
        async move {
            let out = command.output().await.expect("run natter");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr);
            // What was printed, and (for failure messages) what was logged.
            (out.status.code(), stdout, stderr.into_owned())
        }
    };

    let (code, out, log) = run(&["projections", "verify", "all"]).await;
    assert_eq!(code, Some(0), "{out}{log}");
    for name in ["history", "unread", "search"] {
        assert!(out.contains(&format!("{name}: matches")), "{out}");
    }
    let (code, out, log) = run(&["projections", "status", "--json"]).await;
    assert_eq!(code, Some(0), "{out}{log}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 3, "{out}");
    for row in &rows {
        assert_eq!(row["state"], "live", "{row}");
        assert_eq!(row["checkpoint"].as_u64(), Some(head), "{row}");
        assert_eq!(row["lag_events"].as_u64(), Some(0), "{row}");
    }

    sqlx::query(
        "UPDATE messages SET body = 'tampered' WHERE room_id = $1 AND client_msg_id = 'm7'",
    )
    .bind(room)
    .execute(&pool)
    .await
    .expect("tamper");
    let (code, out, log) = run(&["projections", "verify", "history"]).await;
    assert_eq!(code, Some(1), "{out}{log}");
    assert!(out.contains("history: DIFFERS"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("messages ") && l.contains("MISMATCH"))
        .unwrap_or_else(|| panic!("messages reported: {out}"));
    assert!(
        line.contains(" 20 rows"),
        "same count, other content: {line}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("only live:") && l.contains("tampered")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("only rebuilt:") && l.contains("message 7")),
        "{out}"
    );

    let (code, out, log) = run(&["projections", "rebuild", "history"]).await;
    assert_eq!(code, Some(0), "{out}{log}");
    assert!(out.contains("history: rebuilt"), "{out}");
    let (code, out, log) = run(&["projections", "verify", "history"]).await;
    assert_eq!(code, Some(0), "{out}{log}");
    let (_, page) = alice
        .get(&format!("/v1/rooms/{room}/messages?limit=100"))
        .await;
    let bodies: Vec<&str> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert!(bodies.contains(&"message 7") && !bodies.contains(&"tampered"));
    let (code, out, log) = run(&["projections", "rebuild", "nonsense"]).await;
    assert_eq!(code, Some(2), "{out}{log}");
    assert!(log.contains("unknown projection `nonsense`"), "{log}");
    pool.close().await;
    s.finish().await;
}

/// A rebuild killed with SIGKILL half-way leaves the live read model as it was and shows as an
/// interrupted rebuild; a second rebuild meanwhile is refused; running it again completes.
#[tokio::test]
async fn rebuild_killed_mid_way_leaves_live_untouched_and_reruns_cleanly() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let bus = s.env.bus().await;
    // Plenty of events, straight into the log.
    let mut pending = Vec::new();
    for i in 0..3_000 {
        let event = Event::new(
            alice.id(),
            Some(room),
            EventBody::MessagePosted(MessagePosted {
                message_id: Uuid::new_v4(),
                client_msg_id: format!("bulk{i}"),
                body: format!("bulk message {i}"),
                thread_root_id: None,
                mentions: Vec::new(),
            }),
        );
        let subject = bus.subjects().room_event(room, event.type_name());
        pending.push(
            bus.append_pipelined(subject, &event, None, false)
                .await
                .expect("append"),
        );
    }
    for p in pending {
        p.await.expect("appended");
    }
    let pool = s.env.pool().await;
    caught_up(&s.env, &pool).await;
    let before = tools::live_digests(&pool, &History).await.expect("digests");

    let mut child = NatterProcess::command(&s.env)
        .args(["projections", "rebuild", "history", "--batch", "10"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn rebuild");
    let schema = shadow::rebuild_schema(History::NAME);
    wait_until(
        "the rebuild to get going",
        Duration::from_secs(20),
        || async {
            let at = shadow::checkpoint_in(&pool, Some(&schema), History::NAME)
                .await
                .ok()?;
            (at > 500).then_some(())
        },
    )
    .await;
    let busy = rebuild(&s.env, &pool, &History, 10).await;
    assert!(
        matches!(busy, Err(ToolError::Busy { .. })),
        "a second rebuild at once is refused"
    );
    child.start_kill().expect("kill -9");
    child.wait().await.expect("reaped");

    assert_eq!(
        tools::live_digests(&pool, &History).await.expect("digests"),
        before,
        "the live tables are untouched"
    );
    let status = tools::status(&bus, &pool, &History).await.expect("status");
    assert_eq!(status.state, "interrupted rebuild", "{status:?}");
    let (served, _) = alice
        .get(&format!("/v1/rooms/{room}/messages?limit=10"))
        .await;
    assert!(served.is_success(), "history is served");

    let rebuilt = rebuild(&s.env, &pool, &History, 500).await.expect("rerun");
    assert!(rebuilt.checkpoint >= 3_000);
    assert_eq!(
        rebuilt.events, rebuilt.checkpoint,
        "every event replayed once"
    );
    assert!(
        shadow_schemas(&pool).await.is_empty(),
        "nothing left behind"
    );
    assert_eq!(
        tools::live_digests(&pool, &History).await.expect("digests"),
        before,
        "the same read model, rebuilt"
    );
    let status = tools::status(&bus, &pool, &History).await.expect("status");
    assert_eq!(status.state, "live", "{status:?}");
    verify_matches(&s.env, &pool, &History).await;
    pool.close().await;
    s.finish().await;
}

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
    assert_eq!(line["event"]["data"]["body"], "tailed");
    tail.start_kill().expect("stop tail");
    pool.close().await;
    s.finish().await;
}

/// Schema evolution: `user.registered` is at version 2 (credentials as an object); a
/// version-1 event already in the log (flat `password_hash`) is upcast on every read, so the
/// live read model and a rebuild both have the user, who can sign in.
#[tokio::test]
async fn version_1_events_in_the_log_replay_into_the_current_read_model() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let pool = s.env.pool().await;
    caught_up(&s.env, &pool).await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(alice.id())
        .fetch_one(&pool)
        .await
        .expect("alice's hash");

    // An event as an older natter wrote it, appended as stored bytes.
    let bus = s.env.bus().await;
    let old_user = Uuid::now_v7();
    let v1 = json!({
        "id": Uuid::now_v7(), "version": 1, "occurred_at": "2026-01-02T03:04:05Z",
        "actor_id": old_user, "type": "user.registered",
        "data": {"user_id": old_user, "username": "olduser", "display_name": "Old User",
                 "password_hash": hash},
    });
    let js = async_nats::jetstream::new(bus.client().clone());
    js.publish(
        bus.subjects().username_claim("olduser"),
        v1.to_string().into(),
    )
    .await
    .expect("publish")
    .await
    .expect("stored");
    caught_up(&s.env, &pool).await;

    let sign_in = || async {
        natter_testkit::Api::anonymous(&s.natter.base)
            .post(
                "/v1/auth/login",
                json!({"username": "olduser", "password": "password123"}),
            )
            .await
    };
    let (status, body) = sign_in().await;
    assert!(status.is_success(), "live read model: {body}");
    assert_eq!(body["user"]["id"], json!(old_user));

    rebuild(&s.env, &pool, &History, 100)
        .await
        .expect("rebuild");
    let (status, body) = sign_in().await;
    assert!(status.is_success(), "after a rebuild: {body}");
    verify_matches(&s.env, &pool, &History).await;

    let mut command = NatterProcess::command(&s.env);
    let out = command
        .args(["events", "stats", "--json"])
        .output()
        .await
        .expect("stats");
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let versions: Vec<(u64, u64)> = stats["types"]
        .as_array()
        .expect("types")
        .iter()
        .filter(|t| t["type"] == "user.registered")
        .map(|t| {
            (
                t["version"].as_u64().unwrap_or(0),
                t["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(versions, [(1, 1), (2, 1)], "{stats}");
    for (flag, version) in [(None, 1), (Some("--upcast"), 2)] {
        let mut command = NatterProcess::command(&s.env);
        command.args(["events", "dump", "--from", "2", "--to", "2"]);
        command.args(flag);
        let out = command.output().await.expect("dump");
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(line["event"]["version"], version, "{line}");
        assert_eq!(line["event"]["data"]["username"], "olduser", "{line}");
    }
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

/// Events that aged out of the log (a stream with limits) are passed over by the checkpoint:
/// a replay applies what the log still holds, and one asked to stop before the first event
/// still held stops there.
#[tokio::test]
async fn a_replay_passes_over_events_that_aged_out_of_the_log() {
    let env = TestEnv::new().await;
    let client = async_nats::connect(&env.conn.nats_url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let subjects = natter_bus::Subjects::new(&env.conn.namespace);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: subjects.stream_name(),
        subjects: vec![subjects.all_events()],
        max_messages: 5,
        ..Default::default()
    })
    .await
    .expect("a stream that keeps 5 events");
    let bus = env.bus().await;
    let pool = env.pool().await;
    let mut users = Vec::new();
    for i in 0..10 {
        let user = Uuid::now_v7();
        let name = format!("aged{i}");
        let event = Event::new(
            user,
            None,
            EventBody::UserRegistered(natter_schemas::event::UserRegistered {
                user_id: user,
                username: name.clone(),
                display_name: name.clone(),
                credentials: natter_schemas::event::Credentials::Password { hash: "h".into() },
            }),
        );
        bus.append(bus.subjects().username_claim(&name), &event, None, false)
            .await
            .expect("append");
        users.push(name);
    }
    assert_eq!(bus.seq_range().await.expect("range"), (6, 10));
    let until = |seq| natter_projector::ReplayOptions::new(100, natter_projector::Until::Seq(seq));
    let none = |_| std::future::ready(());
    let shutdown = Shutdown::new();
    let reached = natter_projector::replay(&bus, &pool, &History, until(3), &shutdown, none)
        .await
        .expect("replay to 3");
    assert_eq!(reached, 3);
    let reached = natter_projector::replay(&bus, &pool, &History, until(10), &shutdown, none)
        .await
        .expect("replay to 10");
    assert_eq!(reached, 10);
    let names: Vec<String> = sqlx::query_scalar("SELECT username FROM users ORDER BY seq")
        .fetch_all(&pool)
        .await
        .expect("users");
    assert_eq!(names, users[5..]);
    pool.close().await;
    env.cleanup().await;
}

/// Group commit: events that arrive while a projection lingers after a commit go into one
/// transaction, in order, and every one is applied.
#[tokio::test]
async fn a_lingering_projection_applies_a_burst_in_fewer_commits() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    bus.ensure_stream(&natter_bus::StreamSettings::default())
        .await
        .expect("stream");
    let pool = env.pool().await;
    let register = |i: usize| {
        let user = Uuid::now_v7();
        let name = format!("burst{i}");
        (
            name.clone(),
            Event::new(
                user,
                None,
                EventBody::UserRegistered(natter_schemas::event::UserRegistered {
                    user_id: user,
                    username: name.clone(),
                    display_name: name,
                    credentials: natter_schemas::event::Credentials::Password { hash: "h".into() },
                }),
            ),
        )
    };
    const BURST: usize = 20;
    let commits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let options = natter_projector::ReplayOptions {
        linger: std::time::Duration::from_millis(400),
        ..natter_projector::ReplayOptions::new(100, natter_projector::Until::Seq(1 + BURST as u64))
    };
    let shutdown = Shutdown::new();
    let replaying = {
        let (bus, pool, commits, shutdown) =
            (bus.clone(), pool.clone(), commits.clone(), shutdown.clone());
        tokio::spawn(async move {
            natter_projector::replay(&bus, &pool, &History, options, &shutdown, |applied| {
                commits.lock().expect("lock").push(applied.covered);
                std::future::ready(())
            })
            .await
        })
    };
    // One event, committed alone; then a burst while the projection lingers after it.
    let (name, event) = register(0);
    bus.append(bus.subjects().username_claim(&name), &event, None, false)
        .await
        .expect("append");
    natter_testkit::wait_until(
        "the first commit",
        std::time::Duration::from_secs(10),
        || {
            let n = commits.lock().expect("lock").len();
            async move { (n > 0).then_some(()) }
        },
    )
    .await;
    for i in 1..=BURST {
        let (name, event) = register(i);
        bus.append(bus.subjects().username_claim(&name), &event, None, false)
            .await
            .expect("append");
    }
    let reached = replaying.await.expect("task").expect("replay");
    assert_eq!(reached, 1 + BURST as u64);
    let commits = commits.lock().expect("lock").clone();
    assert_eq!(commits.iter().sum::<u64>(), 1 + BURST as u64, "{commits:?}");
    assert_eq!(
        commits,
        [1, BURST as u64],
        "the burst that came during the linger is one commit"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(n, 1 + BURST as i64);
    pool.close().await;
    env.cleanup().await;
}
