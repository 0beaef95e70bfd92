//! Connections: half-sent requests and idle keep-alive connections are closed, open
//! connections are capped in all and per client address (the forwarded one behind trusted
//! proxies), and malformed HTTP and WebSocket input gets the error shape or the right close
//! code.

use std::time::Duration;

use natter_gateway::GatewayConfig;
use natter_gateway::net::NetConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{self, Message};

fn with_net(net: NetConfig) -> GatewayConfig {
    GatewayConfig {
        net,
        ..natter_testkit::gateway_config()
    }
}

fn addr(s: &crate::Setup) -> String {
    s.natter.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes; returns what it sent. Bounded so that a connection the
/// server keeps open fails the test instead of hanging it.
async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server kept the connection open: {out:?}");
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON body of a raw HTTP response.
fn body_of(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed() {
    let s = crate::Setup::with_gateway(with_net(NetConfig {
        header_timeout_ms: 300,
        ..NetConfig::default()
    }))
    .await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut tcp = TcpStream::connect(addr(&s)).await.expect("connect");
        tcp.write_all(b"GET /v1/me HTTP/1.1\r\nHost: natter\r\nX-Slow: ")
            .await
            .expect("write");
        slow.push(tcp);
    }
    for tcp in &mut slow {
        read_to_close(tcp).await;
    }
    // A keep-alive connection that sends nothing after its response is closed too.
    let mut idle = TcpStream::connect(addr(&s)).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: natter\r\n\r\n")
        .await
        .expect("write");
    let response = read_to_close(&mut idle).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // And one that never sends a byte.
    let mut silent = TcpStream::connect(addr(&s)).await.expect("connect");
    read_to_close(&mut silent).await;
    s.finish().await;
}

#[tokio::test]
async fn connections_are_capped_per_address_and_in_all() {
    let s = crate::Setup::with_gateway(with_net(NetConfig {
        max_connections_per_ip: 4,
        ..NetConfig::default()
    }))
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr(&s)).await.expect("connect"));
    }
    let mut over = TcpStream::connect(addr(&s)).await.expect("connect");
    let response = read_to_close(&mut over).await;
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");
    assert_eq!(body_of(&response)["error"]["code"], "rate_limited");
    // A closed connection frees its place.
    held.pop();
    let alice = natter_testkit::wait_until("a place to free up", Duration::from_secs(10), || {
        let base = s.natter.base.clone();
        async move {
            let http = reqwest::Client::new();
            let ok = http.get(format!("{base}/healthz")).send().await.ok()?;
            ok.status().is_success().then_some(())
        }
    })
    .await;
    let () = alice;
    drop(held);
    s.finish().await;

    let s = crate::Setup::with_gateway(with_net(NetConfig {
        max_connections: 3,
        ..NetConfig::default()
    }))
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr(&s)).await.expect("connect"));
    }
    let mut over = TcpStream::connect(addr(&s)).await.expect("connect");
    let response = read_to_close(&mut over).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert_eq!(body_of(&response)["error"]["code"], "unavailable");
    drop(held);
    s.finish().await;
}

/// Behind a trusted proxy every connection comes from the proxy's address: the cap applies to
/// the forwarded client address instead; from anyone else, `X-Forwarded-For` is ignored.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_capped() {
    let s = crate::Setup::with_gateway(with_net(NetConfig {
        max_connections_per_ip: 3,
        trusted_proxies: vec!["127.0.0.1/32".parse().expect("net")],
        ..NetConfig::default()
    }))
    .await;
    let alice = s.user("alice").await;
    let open = |client: &'static str| {
        let url = s.natter.ws_url();
        let token = alice.token().to_owned();
        async move {
            let mut request = url.into_client_request().expect("request");
            let headers = request.headers_mut();
            headers.insert(
                "authorization",
                format!("Bearer {token}").parse().expect("h"),
            );
            headers.insert("x-forwarded-for", client.parse().expect("h"));
            tokio_tungstenite::connect_async(request).await
        }
    };
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(open("198.51.100.1").await.expect("under the cap"));
    }
    match open("198.51.100.1").await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("a fourth socket from one client: {:?}", other.map(|_| ())),
    }
    // Another client behind the same proxy is not held to the first one's count.
    sockets.push(open("198.51.100.2").await.expect("another client"));
    s.finish().await;
}

#[tokio::test]
async fn malformed_http_and_frames_get_the_error_shape_and_close_codes() {
    let s = crate::Setup::new().await;
    let alice = s.user("alice").await;
    let (status, body) = alice
        .request(reqwest::Method::PUT, "/v1/search", None)
        .await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");

    let http = reqwest::Client::new();
    let big = http
        .get(format!("{}/healthz", s.natter.base))
        .header("x-big", "x".repeat(20_000))
        .send()
        .await
        .expect("send");
    assert_eq!(big.status(), 431);
    let body: Value = big.json().await.expect("json");
    assert_eq!(body["error"]["code"], "headers_too_large");
    let mut many = http.get(format!("{}/healthz", s.natter.base));
    for i in 0..150 {
        many = many.header(format!("x-h{i}"), "1");
    }
    let many = many.send().await.expect("send");
    assert_eq!(many.status(), 431);

    let mut ws = s.ws(&alice).await;
    ws.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    let error = ws.next_of("error").await;
    assert_eq!(error["error"]["code"], "invalid");
    assert_eq!(error["error"]["field"], "frame");
    // A text frame that is not UTF-8 closes the socket with 1007.
    let bad = Frame::message(vec![0xff, 0xfe, b'{'], OpCode::Data(Data::Text), true);
    ws.send_raw(Message::Frame(bad)).await;
    let closed = ws.closed().await;
    assert_eq!(closed.code, Some(1007), "{closed:?}");
    let _ = json!(null);
    s.finish().await;
}
