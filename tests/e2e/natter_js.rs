//! natter.js, the web client's module, tested on its own in Node.js (`tests/natter-js/`:
//! `node --test` against this gateway): request/reply, resume after a cut connection, the
//! outbox across reloads and tabs, `reset`, token refresh and sign-out.

use crate::{Setup, run_scenario, scenario_file};

#[tokio::test]
async fn the_js_client_module_resumes_dedupes_and_keeps_its_outbox() {
    let s = Setup::new().await;
    let mut command = tokio::process::Command::new("node");
    command
        // A test that hangs fails by its name after a minute.
        .args(["--experimental-websocket", "--test", "--test-reporter=spec"])
        .arg("--test-timeout=60000")
        .arg(scenario_file("natter-js/natter.test.mjs"))
        .env("NATTER_URL", &s.natter.base);
    run_scenario(command, "Node.js 20 or later").await;
    s.env.cleanup().await;
}
