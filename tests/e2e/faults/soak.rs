//! A short soak, in every run: `natter up` as a process of its own under a steady load over
//! real sockets, its memory sampled. Nothing may be lost or doubled; the memory after the
//! warm-up is printed, and may not run away (a generous bound: this catches a leak per
//! delivery, not a few bytes per message; the README says how the half-hour soak and the
//! heap profile that found such a leak are run).

use natter_bench::client::Client;
use natter_bench::fanout;
use natter_testkit::{NatterProcess, TestEnv};

#[tokio::test]
async fn a_soak_under_steady_load_loses_nothing_and_keeps_its_memory() {
    let env = TestEnv::new().await;
    let natter = NatterProcess::spawn(&env, "up").await;
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let pid = natter.pid().expect("running");
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            // While the process runs.
            while let Some(p) = natter_bench::stats::read_proc(pid) {
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(p.rss_bytes as f64 / 1048576.0);
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        })
    };
    let client = Client::new(&natter.base);
    let args = fanout::FanoutArgs {
        rooms: 10,
        subscribers: 10,
        senders: 10,
        rate: 200,
        duration: 40,
        warmup: 5,
        window: 16,
        body_bytes: 100,
        preset: None,
    };
    let r = fanout::run(&client, &args, Some(pid))
        .await
        .expect("fanout");
    sampler.abort();
    let rss: Vec<f64> = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        (r.lost, r.doubled, r.history_lost, r.history_doubled),
        (0, 0, 0, 0),
        "{r:?}"
    );
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!(
        r.deliveries,
        r.accepted * 10,
        "every message to every subscriber"
    );
    // After the sockets are up and the warm-up is over (the first quarter of the samples).
    let warm = rss[rss.len() / 4];
    let peak = rss[rss.len() / 4..].iter().copied().fold(0.0, f64::max);
    let end = rss.last().copied().unwrap_or_default();
    println!(
        "soak: {} messages, {} deliveries over {} sockets, lost 0, doubled 0; natter up's memory {warm:.1} MiB after the warm-up, {end:.1} MiB at the end, {peak:.1} MiB at most",
        r.accepted,
        r.deliveries,
        args.rooms * args.subscribers + args.senders,
    );
    assert!(
        peak < warm + 96.0,
        "memory ran away: {warm:.1} MiB after the warm-up, {peak:.1} MiB at most: {rss:?}"
    );
    let _ = natter.stop().await;
    env.cleanup().await;
}
