use std::time::{Duration, Instant};

use natter_testkit::TestEnv;

/// Each unreachable server is named, with its address and what to do, quickly and without a
/// panic.
#[tokio::test]
async fn unreachable_servers_are_named_with_a_hint() {
    for (server, name) in [
        ("nats", "NATS"),
        ("postgres", "PostgreSQL"),
        ("redis", "Redis"),
    ] {
        let env = TestEnv::new().await.unreachable(server);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let started = Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(20),
            natter::serve(
                &env.conn,
                &natter::Role::ALL,
                natter::UpConfig::default(),
                Some(listener),
                natter_common::Shutdown::new(),
                natter_common::Ready::new(),
            ),
        )
        .await
        .expect("natter up must not hang");
        let err = result.expect_err("must fail").to_string();
        assert!(err.contains(name), "{server}: {err}");
        assert!(
            err.contains("127.0.0.1:1"),
            "{server}: names the address: {err}"
        );
        assert!(
            err.contains("start it") || err.contains("set "),
            "{server}: says what to do: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(15));
        env.cleanup().await;
    }
}

/// Roles started together on a fresh database all create it and migrate it without tripping
/// over each other (PostgreSQL answers a concurrent `CREATE DATABASE` with a unique violation).
#[tokio::test]
async fn roles_starting_together_on_a_new_database_all_start() {
    for _ in 0..3 {
        let env = TestEnv::new().await;
        let url = env.conn.database_url.clone();
        let starts = (0..4).map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                natter_projections::db::connect_and_migrate(&url, 2, Duration::from_secs(10))
                    .await
                    .map(|_| ())
            })
        });
        for start in futures::future::join_all(starts).await {
            start.expect("task").expect("every role starts");
        }
        env.cleanup().await;
    }
}
