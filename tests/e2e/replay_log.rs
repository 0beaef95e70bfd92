//! The replay function itself: old event versions upcast, events that aged out of the log,
//! and the live projector's group commit.

use natter_common::Shutdown;
use natter_projections::history::History;
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_testkit::{NatterProcess, TestEnv};
use serde_json::json;
use uuid::Uuid;

use crate::Setup;
use crate::replay::{caught_up, rebuild, verify_matches};

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
    let stored = js
        .publish(
            bus.subjects().username_claim("olduser"),
            v1.to_string().into(),
        )
        .await
        .expect("publish")
        .await
        .expect("stored")
        .sequence
        .to_string();
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
        command.args(["events", "dump", "--from", &stored, "--to", &stored]);
        command.args(flag);
        let out = command.output().await.expect("dump");
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(line["event"]["version"], version, "{line}");
        assert_eq!(line["event"]["data"]["username"], "olduser", "{line}");
    }
    pool.close().await;
    s.finish().await;
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
