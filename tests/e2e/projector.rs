use std::time::Duration;

use natter_projections::history::History;
use natter_projections::{Projection, apply_batch, checkpoint};
use natter_schemas::Event;
use natter_schemas::event::{EventBody, MessagePosted, RoomCreated, RoomMember};
use natter_schemas::model::{Role as MemberRole, RoomKind, Visibility};
use natter_testkit::{Api, Natter, NatterProcess, Role, TestEnv, wait_until};
use uuid::Uuid;

/// Killing the projector process (SIGKILL) at arbitrary points while messages keep coming, and
/// restarting it, loses nothing and doubles nothing.
#[tokio::test]
async fn projector_kill_and_restart_loses_and_doubles_nothing() {
    let env = TestEnv::new().await;
    let gateway = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let fanout = Natter::start_role(&env, Role::Fanout, natter_testkit::gateway_config()).await;
    let mut projector = NatterProcess::spawn(&env, "projector").await;

    let alice = Api::register(&gateway.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    const N: usize = 400;
    let sending = crate::send_in_background(&alice, room, N);
    for round in 0..5 {
        tokio::time::sleep(Duration::from_millis(50 + 37 * round)).await;
        projector.kill().await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        projector = NatterProcess::spawn(&env, "projector").await;
    }
    let sent = sending.await.expect("sender");
    let last = *sent.last().expect("sent");
    let pool = env.pool().await;
    wait_until(
        "the projector to reach the last send",
        Duration::from_secs(30),
        || {
            let pool = pool.clone();
            async move { (checkpoint(&pool, History::NAME).await.ok()? >= last).then_some(()) }
        },
    )
    .await;
    let stored: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM messages WHERE room_id = $1 ORDER BY seq")
            .bind(room)
            .fetch_all(&pool)
            .await
            .expect("query");
    let sent: Vec<i64> = sent.iter().map(|s| *s as i64).collect();
    assert_eq!(stored, sent, "every message once");
    pool.close().await;
    projector.stop().await;
    for n in [gateway, fanout] {
        n.stop().await;
    }
    env.cleanup().await;
}

fn room_created(room: Uuid, owner: Uuid) -> Event {
    Event::new(
        owner,
        Some(room),
        EventBody::RoomCreated(RoomCreated {
            kind: RoomKind::Room,
            name: "r".into(),
            visibility: Visibility::Public,
            topic: None,
            members: vec![RoomMember {
                user_id: owner,
                role: MemberRole::Owner,
                pending: false,
            }],
            e2ee: false,
        }),
    )
}

fn posted(room: Uuid, sender: Uuid, n: usize, root: Option<Uuid>) -> Event {
    let client_msg_id = format!("c{n}");
    Event::new(
        sender,
        Some(room),
        EventBody::MessagePosted(MessagePosted {
            message_id: natter_schemas::ids::message_id(sender, &client_msg_id),
            client_msg_id,
            body: format!("m{n}"),
            thread_root_id: root,
            mentions: vec![],
            checked_at: None,
            attachments: Vec::new(),
            format: Default::default(),
            mention_names: Vec::new(),
            encrypted: None,
        }),
    )
}

async fn snapshot(pool: &sqlx::PgPool) -> Vec<(i64, Option<String>, i32)> {
    sqlx::query_as("SELECT seq, body, reply_count FROM messages ORDER BY seq")
        .fetch_all(pool)
        .await
        .expect("snapshot")
}

/// The projection contract: a batch applied twice has the effect of once; events at or below
/// the checkpoint are skipped; the same event appended twice (a retry after the log's dedupe
/// window) is one message.
#[tokio::test]
async fn history_projection_applies_each_event_once() {
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    let (room, owner) = (Uuid::now_v7(), Uuid::now_v7());
    let root = posted(room, owner, 0, None);
    let root_id = natter_schemas::ids::message_id(owner, "c0");
    let events = vec![
        (1, room_created(room, owner)),
        (2, root),
        (3, posted(room, owner, 1, Some(root_id))),
        (4, posted(room, owner, 2, Some(root_id))),
    ];
    assert_eq!(
        apply_batch(&pool, &History, &events, 1, 4)
            .await
            .expect("apply"),
        4
    );
    let once = snapshot(&pool).await;
    assert_eq!(once.len(), 3);
    assert_eq!(once[0].2, 2, "two replies");
    // Redelivery of the whole batch, and of part of it: no effect.
    apply_batch(&pool, &History, &events, 1, 4)
        .await
        .expect("again");
    apply_batch(&pool, &History, &events[2..], 3, 4)
        .await
        .expect("again");
    assert_eq!(snapshot(&pool).await, once);
    // A repeated send appended later under a new seq: still one message, no extra reply.
    let repeat = vec![(5, posted(room, owner, 1, Some(root_id)))];
    assert_eq!(
        apply_batch(&pool, &History, &repeat, 5, 5)
            .await
            .expect("repeat"),
        5
    );
    assert_eq!(snapshot(&pool).await, once);
    // The checkpoint also covers events that carried nothing for it.
    assert_eq!(
        apply_batch(&pool, &History, &[], 6, 9).await.expect("skip"),
        9
    );
    assert_eq!(checkpoint(&pool, History.name()).await.expect("cp"), 9);
    // A stretch that does not continue from the checkpoint is refused, not applied.
    let later = vec![(12, posted(room, owner, 7, None))];
    let err = apply_batch(&pool, &History, &later, 12, 12)
        .await
        .expect_err("gap");
    assert!(
        matches!(
            err,
            natter_projections::ProjectionError::Gap {
                expected: 10,
                got: 12
            }
        ),
        "{err}"
    );
    assert_eq!(snapshot(&pool).await, once);
    pool.close().await;
    env.cleanup().await;
}

/// An event this version cannot read (a newer writer, or corruption) is skipped by the
/// projector and the fan-out, loudly, instead of halting every reader behind it: the events
/// after it are projected and delivered.
#[tokio::test]
async fn an_undecodable_event_does_not_halt_the_log_readers() {
    let s = crate::Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let mut ws = s.ws(&alice).await;
    ws.subscribe(room).await;
    let bus = s.env.bus().await;
    let js = async_nats::jetstream::new(bus.client().clone());
    let poison = js
        .publish(
            bus.subjects().room_event(room, "message.posted"),
            br#"{"not": "an event"}"#.as_slice().into(),
        )
        .await
        .expect("publish")
        .await
        .expect("ack")
        .sequence;
    let after = alice.send(room, "1", "after the poison").await;
    assert!(after > poison);
    assert_eq!(ws.event_seqs(1).await, vec![after]);
    let (status, page) = alice
        .get(&format!("/v1/rooms/{room}/messages?min_seq={after}"))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{page}");
    assert_eq!(page["messages"][0]["body"], "after the poison");
    let pool = s.env.pool().await;
    assert!(checkpoint(&pool, History::NAME).await.expect("checkpoint") >= after);
    pool.close().await;
    s.finish().await;
}

/// Two transactions that lock the same two rows in opposite orders meet in a lock cycle
/// (as the partitions of a replay can, when an erasure spans them): PostgreSQL aborts one,
/// `retry_lock_conflicts` applies it again, and both end applied, each once.
#[tokio::test]
async fn a_transaction_aborted_by_a_lock_cycle_is_applied_again() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let env = TestEnv::new().await;
    let pool = env.pool().await;
    sqlx::query("CREATE TABLE lock_cycle (id int PRIMARY KEY, n int NOT NULL)")
        .execute(&pool)
        .await
        .expect("table");
    sqlx::query("INSERT INTO lock_cycle VALUES (1, 0), (2, 0)")
        .execute(&pool)
        .await
        .expect("rows");
    let both_hold_one = Arc::new(tokio::sync::Barrier::new(2));
    let tries = Arc::new(AtomicU32::new(0));
    let run = |first: i32, second: i32| {
        let (pool, both_hold_one, tries) = (pool.clone(), both_hold_one.clone(), tries.clone());
        async move {
            natter_projections::retry_lock_conflicts(5, || {
                let (pool, both_hold_one, tries) = (&pool, &both_hold_one, &tries);
                async move {
                    let attempt = tries.fetch_add(1, Ordering::SeqCst);
                    let mut tx = pool.begin().await?;
                    let bump = "UPDATE lock_cycle SET n = n + 1 WHERE id = $1";
                    sqlx::query(bump).bind(first).execute(&mut *tx).await?;
                    if attempt < 2 {
                        both_hold_one.wait().await; // the first tries only: then the cycle
                    }
                    sqlx::query(bump).bind(second).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }
            })
            .await
        }
    };
    let (a, b) = tokio::join!(run(1, 2), run(2, 1));
    a.expect("first applied");
    b.expect("second applied");
    let total: i64 = sqlx::query_scalar("SELECT sum(n) FROM lock_cycle")
        .fetch_one(&pool)
        .await
        .expect("sum");
    assert_eq!(total, 4, "each transaction applied once");
    assert_eq!(
        tries.load(Ordering::SeqCst),
        3,
        "one was aborted and applied again"
    );
    env.cleanup().await;
}
