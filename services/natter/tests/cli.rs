//! The binary itself: help text and start-up errors. (Having an integration test here also makes
//! every `cargo test`/`nextest` build produce `target/<profile>/natter`, which the end-to-end
//! suite runs as real processes.)

use std::process::Command;

fn natter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_natter"))
}

#[test]
fn help_documents_every_setting_with_its_env_var() {
    let out = natter()
        .args(["up", "--help"])
        .output()
        .expect("run natter");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "NATTER_HTTP_ADDR",
        "NATTER_NAMESPACE",
        "NATS_URL",
        "DATABASE_URL",
        "REDIS_URL",
        "NATTER_JWT_SECRET",
        "NATTER_MAX_FRAME_BYTES",
        "NATTER_OUTBOUND_QUEUE",
        "NATTER_MAX_REPLAY",
        "NATTER_SEARCH_CONFIG",
        "NATTER_RATE_MESSAGES",
        "NATTER_RATE_AUTH_IP",
        "NATTER_BLOCKED_WORDS",
        "NATTER_BLOCKED_WORDS_FILE",
    ] {
        assert!(help.contains(var), "{var} missing from `natter up --help`");
    }
    assert!(help.contains("127.0.0.1:8080") && help.contains("nats://127.0.0.1:4222"));
}

#[test]
fn an_unreachable_server_exits_2_naming_it() {
    let out = natter()
        .arg("up")
        .env("NATS_URL", "nats://127.0.0.1:1")
        .env("NATTER_CONNECT_TIMEOUT_MS", "2000")
        .env("NATTER_HTTP_ADDR", "127.0.0.1:0")
        .output()
        .expect("run natter");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach NATS at nats://127.0.0.1:1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("NATTER_JWT_SECRET is not set"),
        "the dev-secret warning: {stderr}"
    );
}

#[test]
fn a_bad_namespace_is_refused() {
    let out = natter()
        .args(["up", "--namespace", "Not.Valid"])
        .output()
        .expect("run natter");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("namespace"));
}
