//! natter.js, the web client's module, tested on its own in Node.js (`tests/natter-js/`:
//! `node --test` against this gateway): request/reply, resume after a cut connection, the
//! outbox across reloads, `reset`, token refresh and sign-out.

use crate::Setup;

#[tokio::test]
async fn the_js_client_module_resumes_dedupes_and_keeps_its_outbox() {
    let s = Setup::new().await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("natter-js/natter.test.mjs");
    let out = tokio::process::Command::new("node")
        .args(["--experimental-websocket", "--test", "--test-reporter=spec"])
        .arg(&script)
        .env("NATTER_URL", &s.natter.base)
        .output()
        .await
        .expect("node (scripts/test checks for Node.js 20 or later)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "natter.js's tests failed ({})\n{stdout}\n{stderr}",
        out.status
    );
    println!("{stdout}");
    s.env.cleanup().await;
}
