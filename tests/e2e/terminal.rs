//! `natter chat`, the terminal client, driven through pseudo-terminals
//! (`tests/terminal/chat.py`, with pexpect, which `scripts/test` installs).

use crate::Setup;

#[tokio::test]
async fn two_people_chat_in_terminals() {
    let s = Setup::new().await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("terminal/chat.py");
    let natter = natter_testkit::natter_binary();
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&natter)
        .arg(&s.natter.base)
        .output()
        .await
        .expect("python3");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the terminal scenario failed ({}); scripts/test installs pexpect\n{stdout}\n{stderr}",
        out.status
    );
    println!("{stdout}");
    s.env.cleanup().await;
}
