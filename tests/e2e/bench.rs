//! The load generator's smoke test: each workload runs for a moment against a real natter and
//! reports sane, non-zero figures with nothing lost. (No timing assertions: figures belong in
//! the README.)

use natter_bench::client::Client;
use natter_bench::{connect, dataset, fanout, floor, history, idle, upload};

use crate::Setup;

#[tokio::test]
async fn bench_workloads_report_sane_figures_and_lose_nothing() {
    let s = Setup::new().await;
    let client = Client::new(&s.natter.base);
    let me = Some(std::process::id());

    let args = fanout::FanoutArgs {
        rooms: 2,
        subscribers: 2,
        senders: 2,
        rate: 100,
        duration: 1,
        warmup: 0,
        window: 8,
        body_bytes: 64,
        preset: None,
    };
    let r = fanout::run(&client, &args, me).await.expect("fanout");
    assert!(r.accepted > 0 && r.accepted_per_s > 0.0, "{r:?}");
    assert_eq!(
        r.deliveries,
        r.accepted * 2,
        "every message to both subscribers: {r:?}"
    );
    assert!(
        r.send_to_deliver.count > 0 && r.send_to_deliver.p50_ms > 0.0,
        "{r:?}"
    );
    assert!(r.send_to_ack.p99_ms >= r.send_to_ack.p50_ms);
    assert_eq!(
        (r.lost, r.doubled, r.history_lost, r.history_doubled),
        (0, 0, 0, 0),
        "{r:?}"
    );
    assert!(r.errors.is_empty(), "{r:?}");
    assert!(r.server.cpu_percent > 0.0, "{r:?}");
    // The whole stack's cost per message (natter runs in this process here).
    assert!(r.stack.stack_ms_per_msg > 0.0 && r.stack.cores > 0, "{r:?}");

    // The floor's broadcaster, here in this process (the CLI runs it as a process of its own).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    tokio::spawn(floor::serve(listener));
    let args = floor::FloorArgs {
        subscribers: 3,
        publishers: 2,
        rate: 50,
        duration: 1,
        frame_bytes: 200,
    };
    let f = floor::run(&args, &url, std::process::id())
        .await
        .expect("floor");
    assert!(f.sent_per_s > 0.0, "{f:?}");
    assert!(
        f.send_to_deliver.count > 0 && f.deliveries_per_s > f.sent_per_s,
        "every message to each of the 3 subscribers: {f:?}"
    );

    let args = upload::UploadArgs {
        size_mib: 1,
        files: 2,
        photos: 2,
        photo_width: 400,
        photo_height: 300,
    };
    let u = upload::run(&client, &args, me).await.expect("upload");
    assert!(
        u.mib_per_s > 0.0 && u.per_file.count == 2 && u.per_photo.count == 2,
        "{u:?}"
    );
    assert!(
        u.rss_mib_peak > 0.0 && u.server_cpu_ms_per_photo > 0.0,
        "{u:?}"
    );

    let args = history::HistoryArgs {
        readers: 2,
        duration: 1,
        messages: 60,
        limit: 20,
    };
    let h = history::run(&client, &args, me).await.expect("history");
    assert!(
        h.requests > 0 && h.errors == 0 && h.latency.p50_ms > 0.0,
        "{h:?}"
    );

    let args = connect::ConnectArgs {
        sockets: 12,
        rooms: 3,
        missed: 2,
    };
    let c = connect::run(&client, &args, me).await.expect("connect");
    assert_eq!((c.not_recovered, c.lost), (0, 0), "{c:?}");
    assert!(c.stack.stack_ms_per_msg > 0.0 && c.stack.cores > 0, "{c:?}");
    assert_eq!(c.per_socket.count, 12);

    let args = idle::IdleArgs {
        sockets: 40,
        rooms: 4,
        per_user: 10,
    };
    let i = idle::run(&client, &args, me).await.expect("idle");
    assert!(i.rss_mib_after > 0.0, "{i:?}");

    let state = std::env::temp_dir().join(format!(
        "natter-dataset-{}.json",
        s.env.conn.namespace.as_str()
    ));
    let args = dataset::DatasetArgs {
        conn: s.env.conn.clone(),
        rooms: 12,
        messages: 3000,
        user_rooms: 5,
        users: 6,
        readers: 2,
        duration: 1,
        state: state.clone(),
    };
    let d = dataset::run(&client, &args, me).await.expect("dataset");
    assert!(
        d.seed_append_s.is_some() && d.seed_project_s.is_some(),
        "{d:?}"
    );
    let names: Vec<&str> = d.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "unread (all rooms)",
            "history page (50)",
            "thread page (50)",
            "search (common words)",
            "search (middling words)",
            "search (rare words)"
        ]
    );
    for w in &d.workloads {
        assert!(
            w.requests > 0 && w.errors == 0 && w.latency.p50_ms > 0.0,
            "{w:?}"
        );
    }
    // A second run measures the same set again without seeding.
    let again = dataset::run(
        &client,
        &dataset::DatasetArgs {
            duration: 1,
            ..args
        },
        me,
    )
    .await
    .expect("dataset again");
    assert!(again.seed_append_s.is_none(), "{again:?}");
    std::fs::remove_file(state).ok();
    s.finish().await;
}

/// `natter bench replay` fills an empty log, replays it into scratch tables of each projection
/// and reports the rate; the live tables stay empty and no scratch schema is left.
#[tokio::test]
async fn bench_replay_replays_a_generated_log_into_every_projection() {
    let env = natter_testkit::TestEnv::new().await;
    let args = natter_bench::replay::ReplayArgs {
        conn: env.conn.clone(),
        events: 3_000,
        rooms: 10,
        batch: 400,
        projections: vec!["history".into(), "unread".into(), "search".into()],
    };
    let r = natter_bench::replay::run(&args)
        .await
        .expect("replay bench");
    assert_eq!(r.events, 3_000, "{r:?}");
    assert!(r.generate_s.is_some());
    let names: Vec<&str> = r.results.iter().map(|x| x.projection.as_str()).collect();
    assert_eq!(names, ["history", "unread", "search"]);
    for x in &r.results {
        assert!(x.events == 3_000 && x.events_per_s > 0.0, "{x:?}");
    }
    let pool = env.pool().await;
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(messages, 0, "the live tables are not touched");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'natter\\_%'")
            .fetch_one(&pool)
            .await
            .expect("schemas");
    assert_eq!(left, 0);
    // Run again: the log is replayed as found, nothing generated.
    let again = natter_bench::replay::run(&args).await.expect("again");
    assert!(again.generate_s.is_none() && again.events == 3_000);
    pool.close().await;
    env.cleanup().await;
}
