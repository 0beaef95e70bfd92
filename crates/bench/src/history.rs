//! `history`: concurrent readers of history pages.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::client::{Client, read_loop};
use crate::stats::{Percentiles, ServerUsage, UsageMeter, ms, table};

#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Concurrent readers.
    #[arg(long, default_value_t = 16)]
    pub readers: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Messages seeded into the room first.
    #[arg(long, default_value_t = 2000)]
    pub messages: usize,
    /// Page size.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub readers: usize,
    pub messages: usize,
    pub limit: usize,
    pub requests: u64,
    pub requests_per_s: f64,
    pub errors: u64,
    /// The first request that was not answered 200, and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub latency: Percentiles,
    pub server: ServerUsage,
}

pub async fn run(
    client: &Client,
    args: &HistoryArgs,
    pid: Option<u32>,
) -> anyhow::Result<HistoryReport> {
    let tag = format!("h{:08x}", crate::fanout::rand_u32());
    let user = client.user(&format!("{tag}_reader")).await?;
    let room = client.create_room(&user, &tag).await?;
    eprintln!("seeding {} messages ...", args.messages);
    let mut last_seq = 0;
    let mut seeding = Vec::new();
    for chunk in (0..args.messages).collect::<Vec<_>>().chunks(100) {
        for i in chunk {
            let client = client.clone();
            let token = user.token.clone();
            let i = *i;
            seeding.push(tokio::spawn(async move {
                let body = json!({"body": format!("history message {i}"), "client_msg_id": format!("h{i}")});
                client
                    .call(reqwest::Method::POST, &format!("/v1/rooms/{room}/messages"), Some(&token), Some(body))
                    .await
            }));
        }
        for task in seeding.drain(..) {
            let (_, reply) = task.await??;
            last_seq = last_seq.max(reply["seq"].as_u64().unwrap_or(0));
        }
    }
    // Wait until the read model has them all.
    client
        .call(
            reqwest::Method::GET,
            &format!("/v1/rooms/{room}/messages?limit=1&min_seq={last_seq}"),
            Some(&user.token),
            None,
        )
        .await?;

    let meter = UsageMeter::start(pid);
    let limit = args.limit;
    // Alternate the newest page with pages further back.
    let mut reads = read_loop(
        client,
        &user.token,
        args.readers,
        Duration::from_secs(args.duration),
        move |i| {
            if i.is_multiple_of(2) {
                format!("/v1/rooms/{room}/messages?limit={limit}")
            } else {
                let before = 1 + (i * 7919) % last_seq.max(1);
                format!("/v1/rooms/{room}/messages?limit={limit}&before={before}")
            }
        },
    )
    .await;
    let server = meter.finish();
    let requests = reads.samples.0.len() as u64;
    Ok(HistoryReport {
        readers: args.readers,
        messages: args.messages,
        limit: args.limit,
        requests,
        requests_per_s: requests as f64 / args.duration.max(1) as f64,
        errors: reads.errors,
        first_error: reads.first_error,
        latency: reads.samples.percentiles(),
        server,
    })
}

pub fn print(r: &HistoryReport) {
    table(
        &format!(
            "history: {} readers, pages of {}, {} messages",
            r.readers, r.limit, r.messages
        ),
        &[
            ("requests/s", format!("{:.0}", r.requests_per_s)),
            ("latency", ms(&r.latency)),
            (
                "errors",
                match &r.first_error {
                    Some(first) => format!("{} (first: {first})", r.errors),
                    None => r.errors.to_string(),
                },
            ),
            (
                "server cpu / rss",
                format!(
                    "{:.0}% of one core, {:.0} MiB",
                    r.server.cpu_percent, r.server.rss_mib_end
                ),
            ),
        ],
    );
}
