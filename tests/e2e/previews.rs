//! Link previews against a local web server: a link's preview reaches sockets live and
//! history keeps it, its image is served by natter to those who may read the message; and the
//! fetcher refuses what it must (private addresses by default, a redirect to a denied host,
//! what is not HTML, what takes too long).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use natter_previews::PreviewsConfig;
use natter_testkit::{Api, Natter, TestEnv, Ws};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::files::png_bytes;

/// A local site; `hits` counts every request it answered.
struct Site {
    base: String,
    hits: Arc<AtomicUsize>,
}

async fn site() -> Site {
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let counted = hits.clone();
    let page = format!(
        r#"<!doctype html><html><head><title>Fallback</title>
           <meta property="og:title" content="The launch &amp; the plan">
           <meta property="og:description" content="Everything about it.">
           <meta property="og:site_name" content="Local news">
           <meta property="og:image" content="http://127.0.0.1:{port}/cover.png">
           </head><body>{}</body></html>"#,
        "<p>filler</p>".repeat(20_000)
    );
    let app = axum::Router::new()
        .route(
            "/article",
            get(
                move || async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page) },
            ),
        )
        .route(
            "/cover.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], png_bytes(200_000)) }),
        )
        .route(
            "/json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"og:title\":1}",
                )
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                ([(header::CONTENT_TYPE, "text/html")], "<title>late</title>")
            }),
        )
        .route(
            "/away",
            get(move || async move {
                Redirect::temporary(&format!("http://localhost:{port}/article")).into_response()
            }),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                next.run(request)
            },
        ));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Site {
        base: format!("http://127.0.0.1:{port}"),
        hits,
    }
}

/// natter with previews as `previews` says, a private room of Alice's that Bob is in, and Bob's
/// socket subscribed to it.
async fn chat(previews: PreviewsConfig) -> (TestEnv, Natter, Api, Api, Uuid, Ws) {
    let env = TestEnv::new().await;
    let config = natter::UpConfig {
        gateway: natter_testkit::gateway_config(),
        previews,
        ..natter::UpConfig::default()
    };
    let natter = Natter::start_config(&env, natter_testkit::Role::All, config).await;
    let alice = Api::register(&natter.base, "alice").await;
    let bob = Api::register(&natter.base, "bobby").await;
    let room = alice.create_room("links", "private").await;
    let (status, _) = alice
        .post(
            &format!("/v1/rooms/{room}/members"),
            json!({"user_id": bob.id()}),
        )
        .await;
    assert!(status.is_success());
    let mut ws = Ws::connect(&natter.ws_url(), bob.token())
        .await
        .expect("ws");
    ws.subscribe(room).await;
    (env, natter, alice, bob, room, ws)
}

fn on_loopback() -> PreviewsConfig {
    PreviewsConfig {
        preview_private_addresses: true,
        // The local site listens on a port of its own.
        preview_ports: Vec::new(),
        preview_timeout_ms: 1000,
        ..PreviewsConfig::default()
    }
}

/// Waits until the preview worker has handled the log through `seq`.
async fn handled(env: &TestEnv, seq: u64) {
    let bus = env.bus().await;
    natter_testkit::wait_until("the preview worker", Duration::from_secs(20), || async {
        let (acked, _) = bus
            .durable_position(natter_previews::ROLE)
            .await
            .ok()
            .flatten()?;
        (acked >= seq).then_some(())
    })
    .await;
}

fn previews(message: &Value) -> Vec<Value> {
    message["previews"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_link_gets_a_preview_live_and_in_history_with_its_image_served_by_natter() {
    let site = site().await;
    let (env, natter, alice, bob, room, mut ws) = chat(on_loopback()).await;
    let link = format!("{}/article", site.base);
    let seq = alice
        .send(room, "m1", &format!("have you read {link} ?"))
        .await;
    let events = ws.events(2).await;
    assert_eq!(events[0]["event"]["type"], "message.posted");
    let added = &events[1];
    assert_eq!(added["event"]["type"], "message.preview_added", "{added}");
    let data = &added["event"]["data"];
    assert_eq!(data["url"], link);
    assert_eq!(data["title"], "The launch & the plan");
    assert_eq!(data["description"], "Everything about it.");
    assert_eq!(data["site_name"], "Local news");
    assert!(
        data["image_width"].as_u64().is_some_and(|w| w <= 320),
        "{data}"
    );
    let image_url = data["image_url"].as_str().expect("an image on natter");
    assert!(image_url.starts_with("/v1/files/"), "{image_url}");

    // The image comes from natter, to a member, even without a token (a signed URL).
    let anonymous = Api::anonymous(&natter.base);
    let (status, headers, bytes) = anonymous.fetch(image_url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/png");
    assert!(image::load_from_memory(&bytes).is_ok());
    // An outsider with a token cannot read it by id.
    let eve = Api::register(&natter.base, "eve").await;
    let file = image_url
        .trim_start_matches("/v1/files/")
        .split('?')
        .next()
        .expect("id");
    let (status, _) = eve.get(&format!("/v1/files/{file}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = bob.get(&format!("/v1/files/{file}")).await;
    assert_eq!(status, StatusCode::OK);

    // History keeps it.
    let preview_seq = added["seq"].as_u64().expect("seq");
    let (_, page) = bob
        .get(&format!("/v1/rooms/{room}/messages?min_seq={preview_seq}"))
        .await;
    let message = page["messages"][0].clone();
    let kept = previews(&message);
    assert_eq!(kept.len(), 1, "{message}");
    assert_eq!(kept[0]["title"], "The launch & the plan");
    let id = message["id"].as_str().expect("id").to_owned();

    // An edit that takes the link out takes the preview (and its image) with it.
    let (status, reply) = alice
        .patch(&format!("/v1/messages/{id}"), json!({"body": "never mind"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let edit_seq = reply["seq"].as_u64().expect("seq");
    let (_, now) = bob
        .get(&format!("/v1/messages/{id}?min_seq={edit_seq}"))
        .await;
    assert!(previews(&now).is_empty(), "{now}");
    let (status, _) = bob.get(&format!("/v1/files/{file}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(seq < edit_seq);
    natter.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn the_fetcher_refuses_private_addresses_redirects_elsewhere_other_types_and_slowness() {
    let site = site().await;
    // Defaults (but any port: the site has one of its own): loopback is not fetched,
    // whatever the link says.
    let defaults = PreviewsConfig {
        preview_ports: Vec::new(),
        ..PreviewsConfig::default()
    };
    let (env, natter, alice, bob, room, _ws) = chat(defaults).await;
    let port = site.base.rsplit(':').next().expect("port");
    let mut last = 0;
    // (The worker's consumer gets only messages with links; the last one surely has one.)
    for (i, link) in [
        format!("http://[::ffff:127.0.0.1]:{port}/article"),
        format!("http://2130706433:{port}/article"),
        format!("http://localhost:{port}/article"),
        format!("{}/article", site.base),
    ]
    .iter()
    .enumerate()
    {
        last = alice
            .send(room, &format!("p{i}"), &format!("see {link}"))
            .await;
    }
    handled(&env, last).await;
    assert_eq!(
        site.hits.load(Ordering::SeqCst),
        0,
        "a private address was fetched"
    );
    natter.stop().await;

    // Loopback allowed (as in tests), but `localhost` denied: a redirect there is refused;
    // JSON is no page; a page slower than the limit gives nothing.
    let config = PreviewsConfig {
        preview_deny_hosts: vec!["localhost".into()],
        ..on_loopback()
    };
    let natter = Natter::start_config(
        &env,
        natter_testkit::Role::All,
        natter::UpConfig {
            gateway: natter_testkit::gateway_config(),
            previews: config,
            ..natter::UpConfig::default()
        },
    )
    .await;
    let alice = alice.at(&natter.base);
    let bob = bob.at(&natter.base);
    for (i, path) in ["/away", "/json", "/slow"].iter().enumerate() {
        last = alice
            .send(room, &format!("q{i}"), &format!("{}{path}", site.base))
            .await;
    }
    handled(&env, last).await;
    assert_eq!(
        site.hits.load(Ordering::SeqCst),
        3,
        "the redirect was followed"
    );
    let (_, page) = bob
        .get(&format!("/v1/rooms/{room}/messages?min_seq={last}"))
        .await;
    for message in page["messages"].as_array().expect("messages") {
        assert!(previews(message).is_empty(), "{message}");
    }
    natter.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_preview_appended_after_its_message_was_deleted_shows_nothing_of_it() {
    // The worker checks history before appending, but a delete may land in between: the
    // readers of the log hold such a preview back (here appended by hand, after the delete).
    let (env, natter, alice, bob, room, _ws) = chat(on_loopback()).await;
    let seq = alice
        .send(room, "m1", "see https://example.com/plans")
        .await;
    let (_, page) = bob
        .get(&format!("/v1/rooms/{room}/messages?min_seq={seq}"))
        .await;
    let id: Uuid = page["messages"][0]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let (status, reply) = alice.delete(&format!("/v1/messages/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let deleted_at = reply["seq"].as_u64().expect("seq");
    let bus = env.bus().await;
    let late = natter_schemas::Event::new(
        alice.id(),
        Some(room),
        natter_schemas::EventBody::PreviewAdded(natter_schemas::previews::PreviewAdded {
            message_id: id,
            preview: natter_schemas::previews::PreviewRef {
                url: "https://example.com/plans".into(),
                title: Some("The secret plans".into()),
                description: None,
                site_name: None,
                image: None,
            },
        }),
    );
    let subject = bus.subjects().room_event(room, late.type_name());
    let appended = bus
        .append(subject, &late, None, false)
        .await
        .expect("append");
    // A socket resuming after the delete gets the preview's place, not its text.
    let mut ws = Ws::connect(&natter.ws_url(), bob.token())
        .await
        .expect("ws");
    ws.ok(json!({"type": "subscribe", "room_id": room, "since": deleted_at}))
        .await;
    let replayed = ws.events(1).await.remove(0);
    assert_eq!(replayed["seq"], appended.seq);
    assert_eq!(replayed["event"]["redacted"], true, "{replayed}");
    assert!(!replayed.to_string().contains("secret plans"), "{replayed}");
    // History never shows it either.
    let (_, now) = bob
        .get(&format!("/v1/messages/{id}?min_seq={}", appended.seq))
        .await;
    assert!(previews(&now).is_empty(), "{now}");
    natter.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_blocked_users_previews_do_not_reach_the_blocker() {
    let site = site().await;
    let (env, natter, alice, bob, room, mut ws) = chat(on_loopback()).await;
    let (status, _) = bob
        .put(&format!("/v1/me/blocks/{}", alice.id()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The block has reached Bob's socket (its notice; the notice of his being added may come
    // first), so the hub knows it.
    while ws.next_of("notice").await["event"]["type"] != "user.blocked" {}
    let link = format!("{}/article", site.base);
    let seq = alice.send(room, "a1", &format!("look: {link}")).await;
    handled(&env, seq).await;
    let (_, page) = alice
        .get(&format!("/v1/rooms/{room}/messages?min_seq={seq}"))
        .await;
    assert_eq!(previews(&page["messages"][0]).len(), 1, "{page}");
    // Everything of the room's before Bob's own message has reached him by then.
    let mine = bob.send(room, "b1", "after").await;
    let mut frames = Vec::new();
    loop {
        let frame = ws.next_frame().await;
        let done = frame["type"] == "event" && frame["seq"] == mine;
        frames.push(frame);
        if done {
            break;
        }
    }
    assert!(
        frames
            .iter()
            .all(|f| f["event"]["actor_id"] != json!(alice.id())),
        "nothing of Alice's reached Bob: {frames:?}"
    );
    natter.stop().await;
    env.cleanup().await;
}

/// One sender's slow links take at most half of the worker's turns: Alice's 30 links to a
/// page slower than the fetch limit (each waits the whole limit) delay Bob's preview, posted
/// after them, by at most about one fetch limit (it waited for two of Alice's messages, six
/// limits, when messages were handled in order a batch at a time).
#[tokio::test]
async fn one_senders_slow_links_do_not_hold_up_anothers_preview() {
    let site = site().await;
    // A fetch limit long enough that Bob's own preview (a page and its image) fits well
    // within it on a busy machine.
    let config = PreviewsConfig {
        preview_timeout_ms: 3000,
        ..on_loopback()
    };
    let limit = Duration::from_millis(config.preview_timeout_ms);
    let (env, natter, alice, bob, room, mut ws) = chat(config).await;
    let slow = format!("{}/slow", site.base);
    for i in 0..10 {
        let body = format!("{slow}?a={i} {slow}?b={i} {slow}?c={i}");
        alice.send(room, &format!("slow{i}"), &body).await;
    }
    let started = std::time::Instant::now();
    bob.send(room, "b1", &format!("read {}/article", site.base))
        .await;
    loop {
        let frame = ws.next_frame().await;
        if frame["event"]["type"] == "message.preview_added"
            && frame["event"]["actor_id"] == json!(bob.id())
        {
            break;
        }
    }
    let waited = started.elapsed();
    assert!(
        waited < limit * 2,
        "Bob's preview waited {waited:?} behind Alice's slow links (the fetch limit is {limit:?})"
    );
    natter.stop().await;
    env.cleanup().await;
}
