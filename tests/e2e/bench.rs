//! The load generator's smoke test: each workload runs for a moment against a real natter and
//! reports sane, non-zero figures with nothing lost. (No timing assertions: figures belong in
//! the README.)

use natter_bench::client::Client;
use natter_bench::{connect, fanout, history, idle};

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
    let c = connect::run(&client, &args).await.expect("connect");
    assert_eq!((c.not_recovered, c.lost), (0, 0), "{c:?}");
    assert_eq!(c.per_socket.count, 12);

    let args = idle::IdleArgs {
        sockets: 40,
        rooms: 4,
        per_user: 10,
    };
    let i = idle::run(&client, &args, me).await.expect("idle");
    assert!(i.rss_mib_after > 0.0, "{i:?}");
    s.finish().await;
}
