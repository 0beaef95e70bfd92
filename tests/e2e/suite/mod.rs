//! One behaviour suite for every read model (history, unread, search), over a generated log
//! that mixes every event type, including the awkward ones (a send appended twice, edits of
//! deleted messages, reads that go backwards, reactions removed twice, members who leave):
//!
//! - applying every event twice (redelivery of whole and partial batches) equals once;
//! - events at or below the checkpoint are skipped;
//! - the result does not depend on how the log is cut into batches (one event at a time, one
//!   batch, random batches);
//! - a rebuild from the log of a live system equals the live tables.

use std::collections::BTreeMap;
use std::time::Duration;

use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::unread::Unread;
use natter_projections::{Projection, apply_batch, checkpoint, contents, reset};
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_testkit::{TestEnv, wait_until};
use serde_json::json;

mod log;

use log::{generated_log, void_only};

type Contents = BTreeMap<&'static str, Vec<String>>;

/// Applies `log` cut at `cuts` (batch sizes, cycled), each batch followed by `redeliver`
/// extra deliveries of itself and of the batch before it.
async fn build<P: Projection>(
    pool: &sqlx::PgPool,
    projection: &P,
    log: &[(u64, Event)],
    cuts: &[usize],
    redeliver: bool,
) -> Contents {
    reset(pool, projection).await.expect("reset");
    let mut i = 0;
    let mut previous: Option<(usize, usize)> = None;
    for size in cuts.iter().cycle() {
        if i >= log.len() {
            break;
        }
        let end = (i + size).min(log.len());
        let batch = &log[i..end];
        let (from, through) = (batch[0].0, batch[batch.len() - 1].0);
        let reached = apply_batch(pool, projection, batch, from, through)
            .await
            .expect("apply");
        assert_eq!(reached, through);
        if redeliver {
            // The same batch again, and the one before with it: nothing changes.
            apply_batch(pool, projection, batch, from, through)
                .await
                .expect("again");
            if let Some((a, b)) = previous {
                let stretch = &log[a..end];
                apply_batch(pool, projection, stretch, stretch[0].0, through)
                    .await
                    .expect("overlap");
                assert_eq!(b, i);
            }
        }
        previous = Some((i, end));
        i = end;
    }
    assert_eq!(
        checkpoint(pool, projection.name())
            .await
            .expect("checkpoint"),
        log.len() as u64
    );
    contents(pool, projection).await.expect("contents")
}

async fn suite<P: Projection>(projection: P) {
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    let log = generated_log(0x5eed_0000 + projection.name().len() as u64, 600);
    let whole = build(&pool, &projection, &log, &[log.len()], false).await;
    assert!(
        whole.values().any(|rows| !rows.is_empty()),
        "{}: the log must leave something in the tables",
        projection.name()
    );
    let one_by_one = build(&pool, &projection, &log, &[1], false).await;
    assert_eq!(
        one_by_one,
        whole,
        "{}: one event per batch",
        projection.name()
    );
    let redelivered = build(&pool, &projection, &log, &[7, 1, 30, 3, 64, 2], true).await;
    assert_eq!(
        redelivered,
        whole,
        "{}: batches delivered twice and overlapping",
        projection.name()
    );
    // Events at or below the checkpoint are skipped, even when they would change something.
    let rewritten: Vec<(u64, Event)> = log
        .iter()
        .map(|(seq, e)| {
            let mut e = e.clone();
            if let EventBody::MessagePosted(p) = &mut e.body {
                p.body = "rewritten".into();
            }
            (*seq, e)
        })
        .collect();
    apply_batch(&pool, &projection, &rewritten, 1, log.len() as u64)
        .await
        .expect("skip");
    assert_eq!(
        contents(&pool, &projection).await.expect("contents"),
        whole,
        "{}: at or below the checkpoint",
        projection.name()
    );
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn history_behaves_as_a_projection() {
    suite(History).await;
    // The generated log has void posts, and history keeps none of them.
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    let log = generated_log(0x5eed_2222, 600);
    let void = void_only(&log);
    assert!(!void.is_empty(), "the log has void posts");
    build(&pool, &History, &log, &[5, 40, 1], true).await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE id = ANY($1)")
        .bind(&void)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(kept, 0, "void posts in history");
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn unread_behaves_as_a_projection() {
    suite(Unread).await;
    // Its counters agree with what they count.
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    let log = generated_log(0x5eed_1111, 600);
    build(&pool, &Unread, &log, &[5, 40, 1], true).await;
    let (positions, mentions, off): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(p.mentions), 0)::bigint,
                count(*) FILTER (WHERE p.mentions <> (SELECT count(*) FROM unread_mentions x
                                 WHERE x.user_id = p.user_id AND x.room_id = p.room_id))
         FROM read_positions p",
    )
    .fetch_one(&pool)
    .await
    .expect("check");
    assert!(
        positions > 0 && mentions > 0,
        "the log has positions with unread mentions"
    );
    assert_eq!(off, 0, "mention counters equal their rows");
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn search_behaves_as_a_projection() {
    suite(Search::default()).await;
}

/// Real traffic through the public surface, then every projection rebuilt from the log into a
/// second database: each equals the live one.
#[tokio::test]
async fn a_rebuild_from_the_log_equals_the_live_read_models() {
    let s = crate::Setup::new().await;
    let alice = s.user("alice").await;
    let bob = s.user("bobby").await;
    let room = alice.create_room("r", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), json!({})).await;
    let mut last = 0;
    let mut ids = Vec::new();
    for i in 0..30 {
        let (api, text) = if i % 3 == 0 {
            (&bob, format!("hey @alice number {i}"))
        } else {
            (&alice, format!("deploy {i} is running @bobby"))
        };
        let (_, reply) = api
            .post(
                &format!("/v1/rooms/{room}/messages"),
                json!({"client_msg_id": format!("m{i}"), "body": text,
                       "thread_root_id": ids.first().filter(|_| i % 4 == 1)}),
            )
            .await;
        ids.push(
            reply["message_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{reply}"))
                .to_owned(),
        );
        last = reply["seq"].as_u64().expect("seq");
    }
    alice
        .patch(
            &format!("/v1/messages/{}", ids[1]),
            json!({"body": "changed"}),
        )
        .await;
    alice.delete(&format!("/v1/messages/{}", ids[3])).await;
    bob.put(&format!("/v1/messages/{}/reactions/👍", ids[2]), json!({}))
        .await;
    alice
        .post(
            &format!("/v1/rooms/{room}/pins"),
            json!({"message_id": ids[4]}),
        )
        .await;
    bob.post(&format!("/v1/rooms/{room}/read"), json!({"seq": last}))
        .await;
    last = last.max(alice.send(room, "final", "the end").await);

    let live = s.env.pool().await;
    for name in [History::NAME, Unread::NAME, Search::NAME] {
        wait_until("projections to catch up", Duration::from_secs(20), || {
            let live = live.clone();
            async move { (checkpoint(&live, name).await.ok()? >= last).then_some(()) }
        })
        .await;
    }
    let bus = s.env.bus().await;
    let head = bus.last_seq().await.expect("head");
    let mut log = Vec::new();
    for seq in 1..=head {
        let bytes = bus.get(seq).await.expect("event");
        log.push((seq, Event::from_bytes(&bytes).expect("decode")));
    }
    // Read as the projector reads it: personal data unsealed.
    bus.unseal_all(&mut log).await.expect("unseal");
    let scratch = TestEnv::new().await;
    let rebuilt = scratch.pool().await;
    async fn compare<P: Projection>(
        p: P,
        log: &[(u64, Event)],
        live: &sqlx::PgPool,
        rebuilt: &sqlx::PgPool,
    ) {
        let head = log.len() as u64;
        wait_until(
            "the live projection to reach the head",
            Duration::from_secs(20),
            || async { (checkpoint(live, p.name()).await.ok()? >= head).then_some(()) },
        )
        .await;
        apply_batch(rebuilt, &p, log, 1, head)
            .await
            .expect("rebuild");
        assert_eq!(
            contents(rebuilt, &p).await.expect("rebuilt"),
            contents(live, &p).await.expect("live"),
            "{}: rebuilt from the log == live",
            p.name()
        );
    }
    Search::default().prepare(&rebuilt).await.expect("prepare");
    compare(History, &log, &live, &rebuilt).await;
    compare(Unread, &log, &live, &rebuilt).await;
    compare(Search::default(), &log, &live, &rebuilt).await;
    rebuilt.close().await;
    live.close().await;
    scratch.cleanup().await;
    s.finish().await;
}

/// The bulk load of rebuild and verify (each room's events on one of several connections)
/// equals applying the log in order: the generated log (every type, several rooms) appended
/// to a real stream, applied in order to the live tables, then verified (a partitioned
/// replay into scratch tables, in small batches, compared table by table).
#[tokio::test]
async fn a_partitioned_replay_equals_applying_the_log_in_order() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let pool = env.pool().await;
    let log = generated_log(0x5eed_9a27, 600);
    let mut pending = Vec::new();
    for (_, event) in &log {
        let subject = match (&event.body, event.room_id) {
            (EventBody::UserRegistered(u), _) => bus.subjects().username_claim(&u.username),
            (_, Some(room)) => bus.subjects().room_event(room, event.type_name()),
            (_, None) => bus.subjects().user_event(event.actor_id, event.type_name()),
        };
        pending.push(
            bus.append_pipelined(subject, event, None, false)
                .await
                .expect("append"),
        );
    }
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.await.expect("appended").seq, i as u64 + 1);
    }
    let head = log.len() as u64;
    async fn check<P: Projection + Clone + 'static>(
        p: P,
        bus: &natter_bus::Bus,
        pool: &sqlx::PgPool,
        log: &[(u64, Event)],
        head: u64,
    ) {
        p.prepare(pool).await.expect("prepare");
        apply_batch(pool, &p, log, 1, head).await.expect("in order");
        let verified = natter_projector::tools::verify(
            bus,
            pool,
            &p,
            natter_projector::tools::RebuildOptions {
                batch: 40,
                ..Default::default()
            },
            &natter_common::Shutdown::new(),
            &mut |_| {},
        )
        .await
        .expect("verify");
        assert_eq!(verified.checkpoint, head);
        assert!(verified.matches(), "{}: {:?}", p.name(), verified.tables);
    }
    check(History, &bus, &pool, &log, head).await;
    check(Unread, &bus, &pool, &log, head).await;
    check(Search::default(), &bus, &pool, &log, head).await;

    // The claim it rests on, without timing: each partition applied whole, the last first,
    // gives what the log in order gives.
    async fn apart<P: Projection>(p: P, pool: &sqlx::PgPool, log: &[(u64, Event)]) {
        let in_order = contents(pool, &p).await.expect("contents");
        reset(pool, &p).await.expect("reset");
        p.prepare(pool).await.expect("prepare");
        for k in (0..3).rev() {
            let part: Vec<(u64, Event)> = log
                .iter()
                .filter(|(_, e)| natter_projector::replay::partition_of(e, 3) == k)
                .cloned()
                .collect();
            natter_projections::apply_unchecked(pool, &p, &part)
                .await
                .expect("partition");
        }
        assert_eq!(
            contents(pool, &p).await.expect("contents"),
            in_order,
            "{}: partitions one after another",
            p.name()
        );
    }
    apart(History, &pool, &log).await;
    apart(Unread, &pool, &log).await;
    apart(Search::default(), &pool, &log).await;
    pool.close().await;
    env.cleanup().await;
}
