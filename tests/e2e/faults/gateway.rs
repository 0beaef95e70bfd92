//! A gateway killed under load.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use natter_testkit::{Api, Natter, NatterProcess, TestEnv};

use super::{
    Delivered, assert_delivered_once, assert_stored_once, resuming_reader, retrying_sender,
    stored_counts,
};
use crate::replay::caught_up_to;

/// A gateway SIGKILLed under load, with its clients moving to another gateway: the sender
/// retries what was not acked there with the same client ids, and every message ends up in
/// history once and reaches the other gateway's resuming socket once, in order. Every body is
/// sealed by the killed gateway with slot keys it handed out without a round trip; each acked
/// one still opens elsewhere (in the projector and the other gateway): a crash cannot make an
/// acked message unreadable.
#[tokio::test]
async fn a_gateway_killed_under_load_loses_and_doubles_nothing() {
    let env = TestEnv::new().await;
    let projector = Natter::start_role(
        &env,
        natter_testkit::Role::Projector,
        natter_testkit::gateway_config(),
    )
    .await;
    let fanout = Natter::start_role(
        &env,
        natter_testkit::Role::Fanout,
        natter_testkit::gateway_config(),
    )
    .await;
    let doomed = NatterProcess::spawn(&env, "gateway").await;
    let survivor = NatterProcess::spawn(&env, "gateway").await;
    let alice = Api::register(&doomed.base, "alice").await;
    let room = alice.create_room("r", "public").await;

    let stop_reading = Arc::new(AtomicBool::new(false));
    let delivered = Delivered::default();
    let reader = resuming_reader(
        survivor.ws_url(),
        alice.token().to_owned(),
        room,
        delivered.clone(),
        stop_reading.clone(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The sender: REST, one after another, on the doomed gateway until it is gone, then on
    // the other one, as a client behind a load balancer would.
    const N: usize = 600;
    let sender = retrying_sender(
        vec![doomed.base.clone(), survivor.base.clone()],
        alice.token().to_owned(),
        room,
        0,
        Some(N),
        Arc::new(AtomicBool::new(false)),
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    doomed.kill().await;
    let sent = sender.await.expect("sender");
    let last = sent.acked.values().copied().max().expect("sent");

    let reconnects =
        assert_delivered_once(reader, &delivered, &stop_reading, &sent.acked, last).await;

    let pool = env.pool().await;
    caught_up_to(&pool, last).await;
    let unreadable: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE room_id = $1 AND (body IS NULL OR erased)",
    )
    .bind(room)
    .fetch_one(&pool)
    .await
    .expect("history");
    assert_eq!(unreadable, 0, "acked messages unreadable after the crash");
    let stored = stored_counts(&pool, room).await;
    assert_stored_once(&stored, &sent.acked);
    assert_eq!(stored.len(), N, "every message stored");
    assert!(stored.values().all(|n| *n == 1), "none twice");
    println!(
        "gateway kill -9 under load: {N} messages, {} retried on the other gateway; \
         lost 0, doubled 0; the reader (on the other gateway) resumed {reconnects} time(s)",
        sent.retried
    );
    pool.close().await;
    survivor.stop().await;
    fanout.stop().await;
    projector.stop().await;
    env.cleanup().await;
}
