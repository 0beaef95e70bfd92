//! Replay tooling: rebuilds while natter keeps serving and taking writes, verify, a rebuild
//! killed with SIGKILL and run again. One job, with the helpers other files' tests use
//! (`caught_up`, `verify_matches`), so one file a little past 400 lines.

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
pub(crate) async fn caught_up(env: &TestEnv, pool: &sqlx::PgPool) -> u64 {
    let head = env.bus().await.last_seq().await.expect("head");
    caught_up_to(pool, head).await;
    head
}

/// Waits until every live read model has applied `seq`.
pub(crate) async fn caught_up_to(pool: &sqlx::PgPool, seq: u64) {
    for name in [History::NAME, Unread::NAME, Search::NAME] {
        wait_until(
            "projections to reach the seq",
            Duration::from_secs(30),
            || async { (checkpoint(pool, name).await.ok()? >= seq).then_some(()) },
        )
        .await;
    }
}

pub(crate) async fn verify_matches<P: Projection + Clone + 'static>(
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

pub(crate) async fn rebuild<P: Projection + Clone + 'static>(
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
        RebuildOptions {
            batch,
            ..RebuildOptions::default()
        },
        &Shutdown::new(),
        &mut |_| {},
    )
    .await
}

/// Every index of the live schema, with its definition.
pub(crate) async fn live_indexes(pool: &sqlx::PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes
         WHERE schemaname = current_schema() ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("indexes")
}

pub(crate) async fn shadow_schemas(pool: &sqlx::PgPool) -> Vec<String> {
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
                checked_at: None,
                attachments: Vec::new(),
                format: Default::default(),
                mention_names: Vec::new(),
                encrypted: None,
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
