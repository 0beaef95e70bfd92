//! The live read models applied together (one reader, one transaction per stretch), and the
//! ways one of them leaves the group: a failure, a checkpoint held by a rebuild's swap. The
//! others never wait for it, and it comes back with nothing lost or doubled.

use std::time::Duration;

use natter_projections::checkpoint;
use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::unread::Unread;
use natter_testkit::{Api, wait_until};
use uuid::Uuid;

use crate::Setup;

/// Sends `n` messages `{prefix}{i}` and returns the seq of the last.
async fn send_n(api: &Api, room: Uuid, prefix: &str, n: usize) -> u64 {
    let mut last = 0;
    for i in 0..n {
        last = api
            .send(room, &format!("{prefix}-{i}"), &format!("{prefix} {i}"))
            .await;
    }
    last
}

async fn wait_checkpoint(pool: &sqlx::PgPool, name: &'static str, seq: u64) {
    wait_until(
        &format!("{name} to reach {seq}"),
        Duration::from_secs(20),
        || async { (checkpoint(pool, name).await.ok()? >= seq).then_some(()) },
    )
    .await;
}

/// `natter_projection_alone{projection=name}` as the gateway's metrics show it.
async fn alone(api: &Api, name: &str) -> Option<f64> {
    let (_, text) = api.get("/metrics").await;
    let text = text.as_str().unwrap_or_default();
    let key = format!("natter_projection_alone{{projection=\"{name}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
}

/// Makes the database refuse every new row of the search index (drop `refuse_for_test` on
/// `search_messages` to end it).
async fn refuse_search_rows(pool: &sqlx::PgPool) {
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_for_test() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
         CREATE TRIGGER refuse_for_test BEFORE INSERT ON search_messages
           FOR EACH ROW EXECUTE FUNCTION refuse_for_test();",
    )
    .execute(pool)
    .await
    .expect("trigger");
}

/// Waits until `name` is applied with the others again.
async fn rejoined(api: &Api, name: &str) {
    wait_until(
        &format!("{name} to rejoin"),
        Duration::from_secs(20),
        || async { (alone(api, name).await == Some(0.0)).then_some(()) },
    )
    .await;
}

/// Each live read model equals a fresh rebuild of it from the log.
async fn equal_to_a_rebuild(env: &natter_testkit::TestEnv, pool: &sqlx::PgPool) {
    crate::replay::verify_matches(env, pool, &History).await;
    crate::replay::verify_matches(env, pool, &Unread).await;
    crate::replay::verify_matches(env, pool, &Search::default()).await;
}

async fn search_hits(api: &Api, room: Uuid, word: &str) -> usize {
    let (_, found) = api
        .get(&format!("/v1/search?q={word}&room_id={room}&limit=50"))
        .await;
    found["results"].as_array().map_or(0, Vec::len)
}

/// Search refusing every row (a trigger raising an error) does not hold up history or unread:
/// they go on; search records its error, replays alone with backoff, and once the database
/// takes its rows again it catches up, rejoins the group, and holds every message once.
#[tokio::test]
async fn a_failing_read_model_goes_alone_and_the_others_go_on() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let pool = s.env.pool().await;
    let before = send_n(&alice, room, "apple", 3).await;
    wait_checkpoint(&pool, Search::NAME, before).await;
    assert_eq!(
        alone(&alice, Search::NAME).await,
        Some(0.0),
        "together at first"
    );

    refuse_search_rows(&pool).await;
    let during = send_n(&alice, room, "walrus", 10).await;
    wait_checkpoint(&pool, History::NAME, during).await;
    wait_checkpoint(&pool, Unread::NAME, during).await;
    crate::wait_history(&alice, room, 13).await;
    let (search_at, error): (i64, Option<String>) =
        sqlx::query_as("SELECT last_seq, last_error FROM projection_checkpoints WHERE name = $1")
            .bind(Search::NAME)
            .fetch_one(&pool)
            .await
            .expect("checkpoint");
    assert!(
        (search_at as u64) < during,
        "search cannot have applied the refused rows"
    );
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("refused by the test")),
        "the failure is recorded: {error:?}"
    );
    assert_eq!(alone(&alice, Search::NAME).await, Some(1.0));
    assert_eq!(alone(&alice, History::NAME).await, Some(0.0));

    sqlx::raw_sql("DROP TRIGGER refuse_for_test ON search_messages")
        .execute(&pool)
        .await
        .expect("drop trigger");
    wait_checkpoint(&pool, Search::NAME, during).await;
    rejoined(&alice, Search::NAME).await;
    let after = send_n(&alice, room, "zebra", 3).await;
    for name in [History::NAME, Unread::NAME, Search::NAME] {
        wait_checkpoint(&pool, name, after).await;
    }
    assert_eq!(
        search_hits(&alice, room, "walrus").await,
        10,
        "every refused message, once"
    );
    assert_eq!(search_hits(&alice, room, "zebra").await, 3);
    equal_to_a_rebuild(&s.env, &pool).await;
    pool.close().await;
    s.finish().await;
}

/// A checkpoint row held by another transaction (what a rebuild's swap holds while it catches
/// up and swaps) leaves that read model out: the others commit meanwhile. Released, it
/// catches up and rejoins.
#[tokio::test]
async fn a_held_read_model_does_not_stall_the_others() {
    let s = Setup::new().await;
    let alice = s.user("alice").await;
    let room = alice.create_room("r", "public").await;
    let pool = s.env.pool().await;
    let before = send_n(&alice, room, "apple", 2).await;
    wait_checkpoint(&pool, Search::NAME, before).await;

    let mut swap = pool.begin().await.expect("begin");
    sqlx::query("SELECT last_seq FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
        .bind(Search::NAME)
        .execute(&mut *swap)
        .await
        .expect("hold search");
    let during = send_n(&alice, room, "walrus", 8).await;
    wait_checkpoint(&pool, History::NAME, during).await;
    wait_checkpoint(&pool, Unread::NAME, during).await;
    assert!(checkpoint(&pool, Search::NAME).await.expect("search") < during);
    swap.rollback().await.expect("release");

    wait_checkpoint(&pool, Search::NAME, during).await;
    rejoined(&alice, Search::NAME).await;
    let after = send_n(&alice, room, "zebra", 2).await;
    wait_checkpoint(&pool, Search::NAME, after).await;
    assert_eq!(search_hits(&alice, room, "walrus").await, 8);
    equal_to_a_rebuild(&s.env, &pool).await;
    pool.close().await;
    s.finish().await;
}

/// Catching up (stretches of at least half a batch), each read model is applied in its own
/// transaction, at once; the result equals a fresh rebuild of each.
#[tokio::test]
async fn catching_up_applies_each_read_model_on_its_own_and_matches_a_rebuild() {
    catch_up_a_backlog(false).await;
}

/// Catching up, a read model whose rows the database refuses goes alone while the others
/// commit their stretches; the stretches it shared are applied again, and the ones that had
/// committed skip them: once the refusal ends, all three equal a fresh rebuild.
#[tokio::test]
async fn a_refusal_while_catching_up_loses_and_doubles_nothing() {
    catch_up_a_backlog(true).await;
}

/// Runs the projector (batch 8, no linger) over a backlog of 40 messages with mentions, with
/// search refusing its rows until history and unread are through when `refuse`.
async fn catch_up_a_backlog(refuse: bool) {
    use natter_testkit::{Natter, Role, TestEnv};
    let env = TestEnv::new().await;
    let gateway = Natter::start_role(&env, Role::Gateway, natter_testkit::gateway_config()).await;
    let projector =
        Natter::start_role(&env, Role::Projector, natter_testkit::gateway_config()).await;
    let alice = Api::register(&gateway.base, "alice").await;
    let bob = Api::register(&gateway.base, "bobby").await;
    let room = alice.create_room("r", "public").await;
    bob.post(&format!("/v1/rooms/{room}/join"), serde_json::json!({}))
        .await;
    projector.stop().await;

    // While no projector runs: messages, mentions, and reads.
    let mut last = 0;
    for i in 0..40 {
        let (who, body) = if i % 3 == 0 {
            (&bob, format!("walrus {i} @alice"))
        } else {
            (&alice, format!("walrus {i} @bobby"))
        };
        last = who.send(room, &format!("c{i}"), &body).await;
    }
    let pool = env.pool().await;
    if refuse {
        refuse_search_rows(&pool).await;
    }
    let shutdown = natter_common::Shutdown::new();
    let config = natter_projector::ProjectorConfig {
        projector_batch: 8,
        projector_linger_ms: 0,
        ..Default::default()
    };
    let running = tokio::spawn(natter_projector::run(
        env.bus().await,
        pool.clone(),
        config,
        None,
        shutdown.clone(),
        natter_common::Ready::new(),
    ));
    wait_checkpoint(&pool, History::NAME, last).await;
    wait_checkpoint(&pool, Unread::NAME, last).await;
    if refuse {
        assert!(checkpoint(&pool, Search::NAME).await.expect("search") < last);
        sqlx::raw_sql("DROP TRIGGER refuse_for_test ON search_messages")
            .execute(&pool)
            .await
            .expect("drop trigger");
    }
    wait_checkpoint(&pool, Search::NAME, last).await;
    shutdown.trigger();
    running.await.expect("join").expect("projector");
    equal_to_a_rebuild(&env, &pool).await;
    pool.close().await;
    gateway.stop().await;
    env.cleanup().await;
}
