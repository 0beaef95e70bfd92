//! The vault against the real NATS: keys in the bucket beside the log, wrapped; a message
//! sealed with a slot handed out without a round trip opens in another process after this one
//! is gone (a crash cannot make it unreadable); destroying a slot erases one message version,
//! destroying a user's key everything of theirs; a rotation rewraps the bucket so that the old
//! key-encryption key can be dropped.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use natter_testkit::TestEnv;
use natter_vault::{Keks, Vault};
use uuid::Uuid;

fn keks(lines: &[(u8, u8)]) -> Keks {
    let text: String = lines
        .iter()
        .map(|(id, byte)| format!("{id} {}\n", STANDARD.encode([*byte; 32])))
        .collect();
    Keks::parse(&text).expect("keys")
}

async fn vault(env: &TestEnv, keys: &[(u8, u8)]) -> Vault {
    let bus = env.bus().await;
    // No cache: every read goes to the bucket, as another process's would.
    Vault::open(&bus, keks(keys), 1, Duration::ZERO)
        .await
        .expect("vault")
}

#[tokio::test]
async fn what_the_vault_seals_opens_elsewhere_until_its_key_is_destroyed() {
    let env = TestEnv::new().await;
    let writer = vault(&env, &[(1, 7)]).await;
    let alice = Uuid::now_v7();
    let user_key = writer
        .keys()
        .ensure_user_key(alice)
        .await
        .expect("user key");
    assert_eq!(
        *writer.keys().ensure_user_key(alice).await.expect("again"),
        *user_key,
        "one key per user"
    );

    // The first slot may need a block stored; later ones come without waiting.
    let (first, first_key) = writer.slots().take_or_reserve().await.expect("a slot");
    let (second, second_key) = writer.slots().take().expect("a slot without a round trip");
    assert_eq!(first.block, second.block);
    let (e1, e2) = (Uuid::now_v7(), Uuid::now_v7());
    let one = Vault::seal_body(&user_key, &first_key, e1, "body", b"first secret");
    let two = Vault::seal_body(&user_key, &second_key, e2, "body", b"second secret");
    let name = Vault::seal_field(&user_key, e1, "display_name", b"Alice");
    drop(writer);

    // Another process, after the writer is gone.
    let reader = vault(&env, &[(1, 7)]).await;
    let open = |slot, event, field: &'static str, sealed: Vec<u8>| {
        let reader = reader.clone();
        async move {
            reader
                .unseal(alice, slot, (event, field), &sealed)
                .await
                .expect("unseal")
        }
    };
    assert_eq!(
        open(Some(first), e1, "body", one.clone()).await.as_deref(),
        Some(&b"first secret"[..])
    );
    assert_eq!(
        open(Some(second), e2, "body", two.clone()).await.as_deref(),
        Some(&b"second secret"[..])
    );
    assert_eq!(
        open(None, e1, "display_name", name.clone())
            .await
            .as_deref(),
        Some(&b"Alice"[..])
    );
    assert_eq!(
        open(Some(first), e2, "body", one.clone()).await,
        None,
        "bound to its event"
    );

    // A deleted message: its slot goes, the other message stays.
    reader
        .keys()
        .destroy_slots(&[first])
        .await
        .expect("destroy slot");
    let third = vault(&env, &[(1, 7)]).await;
    let erased = third
        .unseal(alice, Some(first), (e1, "body"), &one)
        .await
        .expect("read");
    assert_eq!(erased, None, "erased");
    let kept = third
        .unseal(alice, Some(second), (e2, "body"), &two)
        .await
        .expect("read");
    assert_eq!(kept.as_deref(), Some(&b"second secret"[..]));

    // The user erased: nothing of theirs opens.
    third
        .keys()
        .destroy_user(alice)
        .await
        .expect("destroy user");
    let after = vault(&env, &[(1, 7)]).await;
    for (slot, event, field, sealed) in [
        (Some(second), e2, "body", &two),
        (None, e1, "display_name", &name),
    ] {
        assert_eq!(
            after
                .unseal(alice, slot, (event, field), sealed)
                .await
                .expect("read"),
            None
        );
    }
    env.cleanup().await;
}

#[tokio::test]
async fn a_rotation_rewraps_the_bucket_so_that_the_old_key_can_go() {
    let env = TestEnv::new().await;
    let old = vault(&env, &[(1, 7)]).await;
    let bob = Uuid::now_v7();
    let key = old.keys().ensure_user_key(bob).await.expect("key");
    let (slot, slot_key) = old.slots().take_or_reserve().await.expect("slot");
    let event = Uuid::now_v7();
    let sealed = Vault::seal_body(&key, &slot_key, event, "body", b"kept through rotation");

    // Without the old key nothing opens (a bucket copy alone is useless)...
    let new_only = vault(&env, &[(2, 9)]).await;
    assert!(
        new_only
            .unseal(bob, Some(slot), (event, "body"), &sealed)
            .await
            .is_err()
    );
    // ...until a process holding both rewraps everything with the new one.
    let both = vault(&env, &[(2, 9), (1, 7)]).await;
    let rewrapped = both.keys().rewrap_all().await.expect("rewrap");
    assert!(rewrapped >= 2, "the user key and the block: {rewrapped}");
    assert_eq!(
        both.keys().rewrap_all().await.expect("again"),
        0,
        "nothing left to do"
    );
    let opened = new_only
        .unseal(bob, Some(slot), (event, "body"), &sealed)
        .await
        .expect("read");
    assert_eq!(opened.as_deref(), Some(&b"kept through rotation"[..]));
    env.cleanup().await;
}

/// The log records which key bucket is its own: a missing bucket, or another one, is refused
/// (everything sealed would read as erased), by the vault and by every natter command.
#[tokio::test]
async fn a_log_refuses_a_key_bucket_that_is_not_its_own() {
    let env = TestEnv::new().await;
    let first = vault(&env, &[(1, 7)]).await;
    first
        .keys()
        .ensure_user_key(Uuid::now_v7())
        .await
        .expect("a key");
    let raw = || async {
        let bus = natter::connect_nats(&env.conn, "natter-test")
            .await
            .expect("nats");
        bus.ensure_stream(&natter::StreamArgs::default().settings())
            .await
            .expect("stream");
        bus
    };
    let bucket = format!(
        "KV_{}",
        natter_bus::Subjects::new(&env.conn.namespace).key_bucket()
    );
    let js = async_nats::jetstream::new(raw().await.client().clone());
    js.delete_stream(&bucket).await.expect("bucket deleted");

    let bus = raw().await;
    let missing = Vault::open(&bus, keks(&[(1, 7)]), 1, Duration::ZERO).await;
    let error = missing.err().expect("refused").to_string();
    assert!(error.contains("missing"), "{error}");
    let (code, _, err) = crate::identity::run(&env, &["events", "stats"]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("key bucket") && err.contains("missing"),
        "{err}"
    );

    // A new bucket made behind natter's back is not the log's either.
    bus.key_bucket(1).await.expect("another bucket");
    let other = Vault::open(&bus, keks(&[(1, 7)]), 1, Duration::ZERO).await;
    let error = other.err().expect("refused").to_string();
    assert!(error.contains("not this log's key bucket"), "{error}");
    env.cleanup().await;
}
