//! Profiles over the real surface: an avatar is one of the user's uploaded images, served by
//! its thumbnail to anyone signed in and kept from the sweeper; a profile change reaches, live,
//! the sockets of the people who share a room with the changer, and no one else.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::Setup;
use crate::files::{file_id, png_bytes};

#[tokio::test]
async fn an_avatar_is_an_own_image_shown_to_everyone_and_kept() {
    let mut config = natter_testkit::gateway_config();
    config.files.unattached_file_secs = 1;
    config.files.file_sweep_secs = 1;
    let s = Setup::with_gateway(config).await;
    let alice = s.user("alice").await;
    let stranger = s.user("stranger").await;
    let (status, picture) = alice.upload("me.png", png_bytes(20_000)).await;
    assert_eq!(status, StatusCode::CREATED, "{picture}");
    let (_, text) = alice.upload("notes.txt", b"not a picture".to_vec()).await;
    let (_, theirs) = stranger.upload("them.png", png_bytes(5_000)).await;

    // Only one's own image will do.
    for (file, what) in [(&text, "a text file"), (&theirs, "someone else's image")] {
        let (status, body) = alice
            .patch("/v1/me", json!({"avatar_id": file_id(file)}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"]["field"], "avatar_id");
    }
    let (status, me) = alice
        .patch("/v1/me", json!({"avatar_id": file_id(&picture)}))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let avatar_url = me["avatar_url"].as_str().expect("avatar_url").to_owned();

    // Anyone signed in sees it, through the profile's signed URL or by id with a token.
    let (_, profile) = stranger.get(&format!("/v1/users/{}", alice.id())).await;
    assert!(profile["avatar_url"].is_string(), "{profile}");
    let (status, _, _) = stranger.fetch(&avatar_url, None).await;
    assert_eq!(status, StatusCode::OK);
    let by_id = format!("/v1/files/{}/thumbnail", file_id(&picture));
    assert_eq!(stranger.fetch(&by_id, None).await.0, StatusCode::OK);
    let (_, found) = stranger.get("/v1/users?q=ali").await;
    assert!(found["users"][0]["avatar_url"].is_string(), "{found}");

    // Past the time an unattached upload is kept, the sweeper leaves the avatar alone (and
    // takes the text file).
    natter_testkit::wait_until("a sweep", Duration::from_secs(20), || async {
        let (status, _, _) = alice
            .fetch(&format!("/v1/files/{}", file_id(&text)), None)
            .await;
        (status == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    assert_eq!(stranger.fetch(&by_id, None).await.0, StatusCode::OK);

    // `null` takes it away; then the picture is an unattached upload again, and goes.
    let (status, me) = alice.patch("/v1/me", json!({"avatar_id": null})).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert!(me["avatar_url"].is_null(), "{me}");
    natter_testkit::wait_until("the old avatar swept", Duration::from_secs(20), || async {
        let (status, _, _) = alice.fetch(&by_id, None).await;
        (status == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    s.natter.stop().await;
    s.env.cleanup().await;
}

#[tokio::test]
async fn a_profile_change_reaches_the_people_who_share_a_room_live() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    let (status, _) = alice.post("/v1/dms", json!({"user_ids": [bob.id()]})).await;
    assert_eq!(status.as_u16() / 100, 2);
    let mut bob_socket = s.ws(&bob).await;
    let mut carol_socket = s.ws(&carol).await;
    let mut alice_socket = s.ws(&alice).await;

    let (status, _) = alice
        .patch(
            "/v1/me",
            json!({"display_name": "Alice Liddell", "status_text": "in wonderland"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Bob (who shares a conversation) and Alice's own sockets hear of it, without subscribing
    // to anything.
    for socket in [&mut bob_socket, &mut alice_socket] {
        let notice = socket.next_of("notice").await;
        assert_eq!(notice["event"]["type"], "user.profile_updated", "{notice}");
        assert_eq!(notice["event"]["actor_id"], json!(alice.id()));
        assert_eq!(notice["event"]["data"]["display_name"], "Alice Liddell");
        assert_eq!(notice["event"]["data"]["status_text"], "in wonderland");
    }
    let quiet = carol_socket.drain(Duration::from_millis(500)).await;
    assert!(
        quiet.iter().all(|f| f["type"] != "notice"),
        "a stranger hears nothing: {quiet:?}"
    );

    // An avatar arrives with its URL.
    let (_, picture) = alice.upload("me.png", png_bytes(5_000)).await;
    let (status, _) = alice
        .patch("/v1/me", json!({"avatar_id": file_id(&picture)}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let notice = bob_socket.next_of("notice").await;
    let url = notice["event"]["data"]["avatar_url"]
        .as_str()
        .expect("avatar_url");
    assert_eq!(bob.fetch(url, None).await.0, StatusCode::OK);
    s.env.cleanup().await;
}
