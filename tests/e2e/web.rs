//! The web client: served at `/` with a strict Content-Security-Policy (or not at all when
//! switched off), and two people chatting in it in a real browser (`tests/browser/chat.py`:
//! headless Chromium driven by Playwright, installed by `scripts/test`).

use reqwest::StatusCode;

use crate::{Setup, run_scenario, scenario_file};

#[tokio::test]
async fn the_web_client_is_served_with_a_strict_policy() {
    let s = Setup::new().await;
    let http = reqwest::Client::new();
    let get = |base: &str, path: &str, etag: Option<&reqwest::header::HeaderValue>| {
        let mut request = http.get(format!("{base}{path}"));
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        request.send()
    };
    let page = get(&s.natter.base, "/", None).await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let etag = page.headers().get("etag").cloned().expect("etag");
    assert!(page.text().await.expect("html").contains("/web/app.js"));

    let script = get(&s.natter.base, "/web/natter.js", None)
        .await
        .expect("script");
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/javascript")
    );
    let again = get(&s.natter.base, "/", Some(&etag)).await.expect("page");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let missing = get(&s.natter.base, "/web/../Cargo.toml", None)
        .await
        .expect("missing");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    s.env.cleanup().await;

    let mut config = natter_testkit::gateway_config();
    config.web_client = false;
    let off = Setup::with_gateway(config).await;
    let page = get(&off.natter.base, "/", None).await.expect("page");
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    off.env.cleanup().await;
}

#[tokio::test]
async fn two_people_chat_in_a_real_browser_and_a_cut_connection_loses_nothing() {
    let s = Setup::new().await;
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(scenario_file("browser/chat.py"))
        .arg(&s.natter.base);
    if let Some(dir) = std::env::var_os("NATTER_SCREENSHOTS") {
        command.arg(dir);
    }
    run_scenario(command, "chromium, playwright and axe-playwright-python").await;
    s.env.cleanup().await;
}
