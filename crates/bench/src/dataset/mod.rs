//! `dataset`: the read side at realistic scale. Seeds a data set (by default 1,000 rooms, 1M
//! messages with threads and mentions, one user in 300 rooms with read positions spread
//! through them), waits until every read model has projected it, then measures concurrent
//! REST readers of: that user's unread counts, history pages, thread pages, and searches.
//!
//! Users are registered over REST (so that they can log in); rooms, messages and read
//! positions are appended straight to the log, as the gateway would append them, pipelined, so
//! that a million messages take seconds to write, not minutes. What is measured goes through
//! the public REST surface only. The seeded set is described in a state file: a second run
//! with the same file and namespace measures again without seeding.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use natter_bus::Bus;
use natter_common::config::Connections;
use natter_schemas::event::{EventBody, MessagePosted, ReadUpdated, RoomCreated, RoomMember};
use natter_schemas::model::{Role, RoomKind, Visibility};
use natter_schemas::{Event, ids};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::{Client, User, read_loop};
use crate::generate::{Appender, Rng, skewed, vocabulary};

mod seed;

use crate::stats::{Percentiles, ServerUsage, UsageMeter, ms, table};
use seed::seed;

#[derive(Debug, Clone, clap::Args)]
pub struct DatasetArgs {
    #[command(flatten)]
    pub conn: Connections,
    /// Rooms in the data set.
    #[arg(long, default_value_t = 1000)]
    pub rooms: usize,
    /// Messages in the data set (room sizes are skewed: a few large rooms, many small).
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Rooms the measured user belongs to.
    #[arg(long, default_value_t = 300)]
    pub user_rooms: usize,
    /// Other users (members of the rooms, senders of the messages).
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Concurrent readers per workload.
    #[arg(long, default_value_t = 4)]
    pub readers: usize,
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Describes the seeded set; when it exists (same namespace and sizes), seeding is skipped.
    #[arg(long, default_value = "natter-dataset.json")]
    pub state: std::path::PathBuf,
}

/// What was seeded, for measuring again later.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seeded {
    namespace: String,
    rooms: usize,
    messages: usize,
    user_rooms: usize,
    username: String,
    /// The measured user's rooms.
    member_of: Vec<Uuid>,
    /// Thread roots (with replies) in those rooms.
    threads: Vec<Uuid>,
    /// Words to search for, by how common they are: the 50 most common words, 50 from
    /// ranks 100-1000, and 50 from ranks 1000-5000.
    common_words: Vec<String>,
    middling_words: Vec<String>,
    rare_words: Vec<String>,
    head: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: String,
    pub requests: u64,
    pub requests_per_s: f64,
    pub errors: u64,
    /// The first request that was not answered 200, and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub latency: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    pub rooms: usize,
    pub messages: usize,
    pub user_rooms: usize,
    pub readers: usize,
    /// Seconds to append the set to the log (absent when reused).
    pub seed_append_s: Option<f64>,
    /// Seconds until every read model had projected it, after the appends.
    pub seed_project_s: Option<f64>,
    pub workloads: Vec<Workload>,
    pub server: ServerUsage,
}

async fn measure<F>(
    name: &str,
    args: &DatasetArgs,
    client: &Client,
    token: &str,
    path: F,
) -> Workload
where
    F: Fn(u64) -> String + Send + Sync + Clone + 'static,
{
    let mut reads = read_loop(
        client,
        token,
        args.readers,
        Duration::from_secs(args.duration),
        path,
    )
    .await;
    let requests = reads.samples.0.len() as u64;
    Workload {
        name: name.to_owned(),
        requests,
        requests_per_s: requests as f64 / args.duration.max(1) as f64,
        errors: reads.errors,
        first_error: reads.first_error,
        latency: reads.samples.percentiles(),
    }
}

pub async fn run(
    client: &Client,
    args: &DatasetArgs,
    pid: Option<u32>,
) -> anyhow::Result<DatasetReport> {
    let reuse = std::fs::read_to_string(&args.state)
        .ok()
        .and_then(|s| serde_json::from_str::<Seeded>(&s).ok())
        .filter(|s| {
            s.namespace == args.conn.namespace.as_str()
                && (s.rooms, s.messages, s.user_rooms)
                    == (args.rooms, args.messages, args.user_rooms)
        });
    let (seeded, seed_append_s, seed_project_s) = match reuse {
        Some(s) => {
            eprintln!("reusing the data set in {}", args.state.display());
            (s, None, None)
        }
        None => {
            let (s, a, p) = seed(client, args).await?;
            std::fs::write(&args.state, serde_json::to_string(&s)?)
                .with_context(|| format!("write {}", args.state.display()))?;
            (s, Some(a), Some(p))
        }
    };
    let reader = client.user(&seeded.username).await?;
    let (authed, token) = (client, reader.token.as_str());
    let head = seeded.head;
    let meter = UsageMeter::start(pid);
    let mut workloads = Vec::new();

    workloads.push(
        measure("unread (all rooms)", args, authed, token, |_| {
            "/v1/unread".to_owned()
        })
        .await,
    );
    let rooms = seeded.member_of.clone();
    workloads.push(
        measure("history page (50)", args, authed, token, move |i| {
            let room = rooms[(i as usize * 7919) % rooms.len()];
            if i % 2 == 0 {
                format!("/v1/rooms/{room}/messages?limit=50")
            } else {
                format!(
                    "/v1/rooms/{room}/messages?limit=50&before={}",
                    1 + (i * 104_729) % head.max(1)
                )
            }
        })
        .await,
    );
    let threads = seeded.threads.clone();
    if !threads.is_empty() {
        workloads.push(
            measure("thread page (50)", args, authed, token, move |i| {
                format!(
                    "/v1/messages/{}/thread?limit=50",
                    threads[(i as usize * 7919) % threads.len()]
                )
            })
            .await,
        );
    }
    for (name, words) in [
        ("search (common words)", seeded.common_words.clone()),
        ("search (middling words)", seeded.middling_words.clone()),
        ("search (rare words)", seeded.rare_words.clone()),
    ] {
        workloads.push(
            measure(name, args, authed, token, move |i| {
                format!(
                    "/v1/search?q={}&limit=20",
                    words[(i as usize * 31) % words.len()]
                )
            })
            .await,
        );
    }
    Ok(DatasetReport {
        rooms: seeded.rooms,
        messages: seeded.messages,
        user_rooms: seeded.user_rooms,
        readers: args.readers,
        seed_append_s,
        seed_project_s,
        workloads,
        server: meter.finish(),
    })
}

pub fn print(r: &DatasetReport) {
    let mut rows: Vec<(&str, String)> = Vec::new();
    let seed = match (r.seed_append_s, r.seed_project_s) {
        (Some(a), Some(p)) => format!("appended in {a:.1}s, projected {p:.1}s later"),
        _ => "reused".to_owned(),
    };
    rows.push(("seed", seed));
    for w in &r.workloads {
        rows.push((
            w.name.as_str(),
            format!(
                "{:.0} req/s, {}, {} errors{}",
                w.requests_per_s,
                ms(&w.latency),
                w.errors,
                w.first_error
                    .as_deref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default()
            ),
        ));
    }
    rows.push((
        "server cpu / rss",
        format!(
            "{:.0}% of one core, {:.0} MiB",
            r.server.cpu_percent, r.server.rss_mib_end
        ),
    ));
    table(
        &format!(
            "dataset: {} rooms, {} messages, a user in {} rooms, {} readers",
            r.rooms, r.messages, r.user_rooms, r.readers
        ),
        &rows,
    );
}
