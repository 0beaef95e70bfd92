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

/// Settings that cannot work are all named at start (each by its variable and flag, with
/// what would work), and natter exits 2 before it binds or connects to anything.
#[tokio::test]
async fn unusable_settings_are_named_at_start() {
    let env = TestEnv::new().await;
    let mut command = natter_testkit::NatterProcess::command(&env);
    command
        .arg("up")
        .env("NATTER_LOG_FORMAT", "text")
        .env("NATTER_HTTP_ADDR", "127.0.0.1:0")
        .env("NATTER_MAX_FRAME_BYTES", "0")
        .env("NATTER_ALLOWED_ORIGINS", "https://app.example.com/")
        .env("NATTER_FANOUT_BATCH", "0")
        .env("NATTER_STREAM_REPLICAS", "7")
        .env("NATTER_DEDUPE_WINDOW_SECS", "20")
        .env("NATTER_APPEND_RETRY_SECS", "16")
        .env("NATS_PING_INTERVAL_SECS", "0")
        .env("NATTER_JWT_SECRET", "too-short")
        .env("NATS_URL", "http://127.0.0.1:1");
    let out = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("natter must not hang")
        .expect("run natter");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for named in [
        "NATTER_MAX_FRAME_BYTES (--max-frame-bytes): 0 bytes: use 1024 to",
        "NATTER_ALLOWED_ORIGINS (--allowed-origins): `https://app.example.com/` is not an origin",
        "NATTER_FANOUT_BATCH (--fanout-batch)",
        "NATTER_STREAM_REPLICAS (--stream-replicas)",
        "NATTER_APPEND_RETRY_SECS (--append-retry-secs): 16 s: use 1 to 60, and less than NATTER_DEDUPE_WINDOW_SECS (20 s) minus 5 s",
        "NATS_PING_INTERVAL_SECS (--nats-ping-interval-secs)",
        "NATTER_JWT_SECRET (--jwt-secret): 9 bytes",
        "NATS_URL (--nats-url)",
    ] {
        assert!(stderr.contains(named), "names {named}: {stderr}");
    }
    assert!(
        !stderr.contains("too-short"),
        "the secret stays out: {stderr}"
    );
    assert!(
        !stderr.contains("cannot reach"),
        "nothing is connected to: {stderr}"
    );
    env.cleanup().await;
}

/// `natter up` without NATTER_KEK_FILE warns once (not once per role), and says where its
/// uploads go in full: without NATTER_UPLOAD_DIR, `uploads` in its data directory.
#[tokio::test]
async fn natter_up_warns_once_and_names_its_upload_directory() {
    use tokio::io::AsyncBufReadExt;
    let env = TestEnv::new().await;
    let data = env.upload_dir().join("data");
    let mut child = natter_testkit::NatterProcess::command(&env)
        .arg("up")
        .env_remove("NATTER_KEK_FILE")
        .env_remove("NATTER_UPLOAD_DIR")
        .env("NATTER_DATA_DIR", &data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("natter up");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    let started = ["gateway listening", "fanout started", "projector started"];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            seen.push(log);
            let all = started
                .iter()
                .all(|m| seen.iter().any(|l| l["message"] == *m));
            if all {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "natter up did not start: {seen:?}");
    // What the roles log as they finish starting comes within a moment.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) {
                seen.push(log);
            }
        }
    })
    .await;
    let warnings = seen
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("NATTER_KEK_FILE is not set"))
        })
        .count();
    assert_eq!(warnings, 1, "{seen:?}");
    let files = seen
        .iter()
        .find(|l| l["message"] == "files")
        .expect("the files line");
    let store = files["store"].as_str().unwrap_or_default();
    let dir = store.trim_start_matches("directory ");
    assert!(std::path::Path::new(dir).is_absolute(), "{files}");
    let uploads = std::fs::canonicalize(data.join("uploads")).expect("the uploads directory");
    assert_eq!(std::path::Path::new(dir), uploads, "{files}");
    let _ = child.start_kill();
    let _ = child.wait().await;
    env.cleanup().await;
}
