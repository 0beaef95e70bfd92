//! CORS for browsers: the origins in `NATTER_ALLOWED_ORIGINS` get preflights answered and
//! responses they may read; other origins get neither (the browser then refuses them).

use natter_gateway::GatewayConfig;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn allowed_origins_may_call_rest_and_others_may_not() {
    let config = GatewayConfig {
        allowed_origins: vec!["https://chat.example".into()],
        ..natter_testkit::gateway_config()
    };
    let s = crate::Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/rooms", s.natter.base);

    // The preflight of a JSON POST with a token, from the allowed origin.
    let preflight = http
        .request(Method::OPTIONS, &url)
        .header("origin", "https://chat.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://chat.example"
    );
    let methods = headers["access-control-allow-methods"]
        .to_str()
        .unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(headers.get("access-control-allow-credentials").is_none());

    // The request itself carries the header that lets the page read the answer.
    let listed = http
        .get(&url)
        .header("origin", "https://chat.example")
        .bearer_auth(alice.token())
        .send()
        .await
        .expect("get");
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://chat.example"
    );

    // Another origin gets no permission, on the preflight or the request.
    let other = http
        .request(Method::OPTIONS, &url)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let read = http
        .get(&url)
        .header("origin", "https://evil.example")
        .bearer_auth(alice.token())
        .send()
        .await
        .expect("get");
    assert!(read.headers().get("access-control-allow-origin").is_none());
    s.finish().await;
}
