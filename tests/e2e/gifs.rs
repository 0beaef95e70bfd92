//! GIF search through the GIPHY adapter, against a fake GIPHY on loopback: the query and key
//! passed on, the answer mapped, a failing provider answered 503, no provider 404, bad input
//! refused, searches rate-limited.

use std::sync::{Arc, Mutex};

use axum::extract::RawQuery;
use axum::http::StatusCode as AxumStatus;
use axum::routing::get;
use natter_gateway::gifs::{GifConfig, ProviderKind};
use reqwest::StatusCode;
use serde_json::json;

use crate::Setup;

/// A fake GIPHY; returns its base URL and the queries it was asked.
async fn fake_giphy() -> (String, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let app = axum::Router::new().route(
        "/v1/gifs/search",
        get(move |RawQuery(query): RawQuery| {
            let query = query.unwrap_or_default();
            seen.lock().expect("lock").push(query.clone());
            async move {
                if query.contains("q=broken") {
                    return (AxumStatus::INTERNAL_SERVER_ERROR, "{}".to_owned());
                }
                let body = json!({"data": [{
                    "id": "abc123",
                    "title": "Cat typing GIF",
                    "images": {
                        "fixed_height": {"url": "https://media.example/abc/200.gif", "width": "356", "height": "200"},
                        "fixed_height_small": {"url": "https://media.example/abc/100.gif", "width": "178", "height": "100"}
                    }
                }], "pagination": {}, "meta": {"status": 200}});
                (AxumStatus::OK, body.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, asked)
}

#[tokio::test]
async fn gif_search_goes_through_the_provider_with_its_key() {
    let (base, asked) = fake_giphy().await;
    let mut config = natter_testkit::gateway_config();
    config.gifs = GifConfig {
        gif_provider: ProviderKind::Giphy,
        gif_api_key: Some("test-key".into()),
        gif_api_url: Some(base),
        gif_rating: "pg".into(),
    };
    config.rate.rate_gifs = "3/1m".parse().expect("limit");
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;

    let (status, found) = alice.get("/v1/gifs?q=cat%20typing&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["provider"], "giphy");
    let gif = &found["gifs"][0];
    assert_eq!(gif["id"], "abc123");
    assert_eq!(gif["title"], "Cat typing GIF");
    assert_eq!(gif["url"], "https://media.example/abc/200.gif");
    assert_eq!(gif["preview_url"], "https://media.example/abc/100.gif");
    assert_eq!(
        (gif["width"].as_u64(), gif["height"].as_u64()),
        (Some(356), Some(200))
    );
    let query = asked.lock().expect("lock")[0].clone();
    for part in ["api_key=test-key", "q=cat+typing", "limit=5", "rating=pg"] {
        assert!(query.contains(part), "{part} not in {query}");
    }

    // Bad input is refused before the provider is asked.
    let (status, reply) = alice.get("/v1/gifs?q=%20").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["field"], "q");
    let (status, reply) = alice.get("/v1/gifs?q=cat&limit=500").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(asked.lock().expect("lock").len(), 1);
    let (status, _) = natter_testkit::Api::anonymous(&s.natter.base)
        .get("/v1/gifs?q=cat")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A failing provider is 503, with nothing of its answer.
    let (status, reply) = alice.get("/v1/gifs?q=broken").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
    assert_eq!(reply["error"]["code"], "unavailable");
    // The third search of the minute was the last.
    let _ = alice.get("/v1/gifs?q=dog").await;
    let (status, reply) = alice.get("/v1/gifs?q=dog").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{reply}");
    s.finish().await;
}

#[tokio::test]
async fn without_a_provider_gif_search_is_not_found() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let (status, reply) = alice.get("/v1/gifs?q=cat").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    assert_eq!(reply["error"]["code"], "not_found");
    s.finish().await;
}
