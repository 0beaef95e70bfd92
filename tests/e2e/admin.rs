//! The admin API across two gateways: figures, connections, disconnects, archiving.

use natter_testkit::{Api, Natter, Role, TestEnv, Ws};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn admins_see_and_act_on_every_gateway() {
    let env = TestEnv::new().await;
    // The first gateway learns the admin's id after registering: start it, register, restart.
    let projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let fanout = Natter::start_role(&env, Role::Fanout, natter_testkit::gateway_config()).await;
    let boot = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let root = Api::register(&boot.base, "root").await;
    let alice = Api::register(&boot.base, "alice").await;
    boot.stop().await;
    let config = natter_gateway::GatewayConfig {
        admin_user_ids: vec![root.id()],
        ..natter_testkit::gateway_config()
    };
    let a = Natter::start_role(&env, Role::Gateway, config.clone()).await;
    let b = Natter::start_role(&env, Role::Gateway, config).await;
    let root = root.at(&a.base);
    let alice = alice.at(&b.base);

    let room = alice.create_room("r", "public").await;
    let mut on_a = Ws::connect(&a.ws_url(), alice.token()).await.expect("ws");
    let mut on_b = Ws::connect(&b.ws_url(), alice.token()).await.expect("ws");
    on_a.subscribe(room).await;
    on_b.subscribe(room).await;

    // Not an admin.
    let (status, _) = alice.get("/v1/admin/stats").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, stats) = root.get("/v1/admin/stats").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(
        stats["gateways"].as_array().map(Vec::len),
        Some(2),
        "{stats}"
    );
    assert_eq!(stats["connections"], 2);
    let names: Vec<&str> = stats["consumers"]
        .as_array()
        .expect("consumers")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["fanout", "history", "unread", "search"]);
    assert!(stats["last_seq"].as_u64().expect("last_seq") > 0);

    let (_, list) = root.get("/v1/admin/connections").await;
    let sockets = list["connections"].as_array().expect("connections").clone();
    assert_eq!(sockets.len(), 2);
    assert!(
        sockets
            .iter()
            .all(|c| c["user_id"] == alice.id().to_string())
    );

    // Close one socket (on whichever gateway holds it), then every socket of the user.
    let first = sockets[0]["id"].as_str().expect("id").to_owned();
    let (status, closed) = root.delete(&format!("/v1/admin/connections/{first}")).await;
    assert_eq!(
        (status, closed["closed"].clone()),
        (StatusCode::OK, json!(1))
    );
    let (status, _) = root.delete(&format!("/v1/admin/connections/{first}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already closed");
    let (_, closed) = root
        .delete(&format!("/v1/admin/users/{}/sessions", alice.id()))
        .await;
    assert_eq!(closed["closed"], 1);
    for ws in [&mut on_a, &mut on_b] {
        assert_eq!(ws.closed().await.code, Some(4003));
    }

    // Archive any room: every subscription ends.
    let mut watcher = Ws::connect(&b.ws_url(), alice.token()).await.expect("ws");
    watcher.subscribe(room).await;
    let (status, _) = root.delete(&format!("/v1/admin/rooms/{room}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(watcher.next_of("unsubscribed").await["reason"], "archived");
    let (_, shown) = alice.get(&format!("/v1/rooms/{room}")).await;
    assert_eq!(shown["archived"], true);
    for n in [a, b, projector, fanout] {
        n.stop().await;
    }
    env.cleanup().await;
}
