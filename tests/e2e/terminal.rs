//! `natter chat`, the terminal client, driven through pseudo-terminals
//! (`tests/terminal/chat.py`, with pexpect, which `scripts/test` installs).

use crate::{Setup, run_scenario, scenario_file};

#[tokio::test]
async fn two_people_chat_in_terminals() {
    let s = Setup::new().await;
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(scenario_file("terminal/chat.py"))
        .arg(natter_testkit::natter_binary())
        .arg(&s.natter.base);
    run_scenario(command, "python3 and pexpect").await;
    s.env.cleanup().await;
}
