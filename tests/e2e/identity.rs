//! Read models belong to one log: a database built from another log (another namespace, or
//! this namespace's stream recreated empty) is refused by name, until `natter projections
//! rebuild all` takes it over.

use std::time::Duration;

use natter_testkit::{Api, Natter, NatterProcess, TestEnv};

use crate::{Setup, wait_history};

/// Runs `natter <args>` for `env` to its end: (exit status, stdout, stderr).
pub(crate) async fn run(env: &TestEnv, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = NatterProcess::command(env);
    command.args(args).env("NATTER_LOG_FORMAT", "text");
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("natter {args:?} did not end"))
        .expect("run natter");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stream_of(env: &TestEnv) -> String {
    natter_bus::Subjects::new(&env.conn.namespace).stream_name()
}

/// A setup whose log has a room with a message in it, projected; natter stopped.
async fn used_then_stopped() -> (TestEnv, Api) {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    alice.send(room, "1", "from the first log").await;
    wait_history(&alice, room, 1).await;
    s.natter.stop().await;
    (s.env, alice)
}

#[tokio::test]
async fn another_namespace_on_the_same_database_is_refused_until_rebuilt() {
    let (a, _) = used_then_stopped().await;
    let mut b = TestEnv::new().await;
    let own_database = std::mem::replace(&mut b.conn.database_url, a.conn.database_url.clone());

    for role in ["up", "gateway", "projector"] {
        let (code, out, err) = run(&b, &[role]).await;
        assert_eq!(code, Some(2), "natter {role}: {out}{err}");
        for words in [
            stream_of(&a).as_str(),
            stream_of(&b).as_str(),
            "natter projections rebuild all",
        ] {
            assert!(err.contains(words), "natter {role} names {words}: {err}");
        }
    }
    let (code, out, err) = run(&b, &["projections", "verify", "all"]).await;
    assert_eq!(code, Some(2), "{out}{err}");
    // One read model alone would leave the others another log's.
    let (code, out, err) = run(&b, &["projections", "rebuild", "history"]).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("rebuild all"), "{err}");

    let (code, out, err) = run(&b, &["projections", "rebuild", "all"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    // Now the database is b's: b starts, and its read models hold b's log only (alice of
    // the first log is not a user here, so the name is free).
    let natter = Natter::start(&b).await;
    let again = Api::register(&natter.base, "alice").await;
    let (_, rooms) = again.get("/v1/rooms").await;
    assert_eq!(rooms["rooms"].as_array().map(Vec::len), Some(0), "{rooms}");
    natter.stop().await;
    // ... and a is refused.
    let (code, out, err) = run(&a, &["up"]).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains(&stream_of(&b)), "{err}");

    b.conn.database_url = own_database;
    b.cleanup().await;
    a.cleanup().await;
}

#[tokio::test]
async fn a_stream_recreated_empty_is_refused() {
    let (env, _) = used_then_stopped().await;
    let bus = env.bus().await;
    let before = bus.epoch().to_owned();
    let js = async_nats::jetstream::new(bus.client().clone());
    js.delete_stream(stream_of(&env)).await.expect("delete");
    // The next start refuses the database before it creates anything.
    let (code, out, err) = run(&env, &["up"]).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains(&before),
        "names the recorded log's epoch: {err}"
    );
    assert!(err.contains("natter projections rebuild all"), "{err}");
    assert!(
        !bus.stream_exists().await.expect("asked"),
        "no stream was created"
    );
    let (code, out, err) = run(&env, &["projections", "status"]).await;
    assert_eq!(
        code,
        Some(2),
        "status of another log's read models: {out}{err}"
    );

    // A database from before identities were recorded: its checkpoints past the log's end
    // give it away.
    let pool = env.pool().await;
    sqlx::query("DELETE FROM log_identity")
        .execute(&pool)
        .await
        .expect("forget");
    pool.close().await;
    let (code, out, err) = run(&env, &["up"]).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("ends at seq 0"), "{err}");
    env.cleanup().await;
}
