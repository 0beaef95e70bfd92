//! natter-bench: the load generator. It drives a running natter over its public WebSocket and
//! REST surface only, like a client fleet, and prints figures (a table, or `--json`).
//!
//! - [`fanout`]: rooms x subscribers x senders; throughput, latency, lost and doubled.
//! - [`floor`]: the same shape through a bare WebSocket broadcaster: what socket writes alone
//!   cost here.
//! - [`history`]: concurrent history readers.
//! - [`idle`]: many idle subscribed sockets; gateway memory per socket.
//! - [`connect`]: a reconnect storm resuming with `since`.
//! - [`dataset`]: unread, history, thread and search readers over a seeded data set of a
//!   million messages.
//! - [`replay`]: how fast each read model rebuilds from a log of a million events.
//! - [`upload`]: large uploads (throughput, memory while streaming) and photos (thumbnail cost).

pub mod client;
pub mod connect;
pub mod dataset;
pub mod fanout;
pub mod floor;
pub mod generate;
pub mod history;
pub mod idle;
pub mod replay;
pub mod stack;
pub mod stats;
pub mod upload;

use clap::{Args, Subcommand};

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// natter's base URL.
    #[arg(
        long,
        env = "NATTER_BENCH_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// The gateway's process id, for CPU and memory; found in /proc when there is one `natter`.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Print one JSON document instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub workload: Workload,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Workload {
    /// Rooms x subscribed sockets x senders: throughput, latency, nothing lost or doubled.
    Fanout(fanout::FanoutArgs),
    /// Concurrent history readers: requests/s and latency.
    History(history::HistoryArgs),
    /// Idle subscribed sockets: gateway memory per socket.
    Idle(idle::IdleArgs),
    /// A reconnect storm: sockets drop and resume with `since` at once.
    Connect(connect::ConnectArgs),
    /// Unread, history, thread and search readers over a seeded data set (1M messages).
    Dataset(dataset::DatasetArgs),
    /// Read-model rebuild speed: each projection replays a (generated) 1M-event log.
    Replay(replay::ReplayArgs),
    /// Uploads: large files (throughput, memory while streaming), then photos (thumbnails).
    Upload(upload::UploadArgs),
    /// The floor: the rate400 shape through a bare WebSocket broadcaster (its own process).
    Floor(floor::FloorArgs),
    /// The broadcaster `floor` runs (prints its port, then serves).
    #[command(hide = true)]
    FloorServer,
}

/// Runs `floor` against a broadcaster in a process of its own (this binary, `bench
/// floor-server`), so that its CPU is its own.
async fn floor_in_child(args: &floor::FloorArgs) -> anyhow::Result<floor::FloorReport> {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["bench", "floor-server"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout from the broadcaster"))?;
    let mut port = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut port)
        .await?;
    let port: u16 = port.trim().parse()?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow::anyhow!("the broadcaster exited"))?;
    let report = floor::run(args, &format!("ws://127.0.0.1:{port}"), pid).await;
    let _ = child.kill().await;
    report
}

/// Runs a workload and prints its report.
pub async fn run(args: BenchArgs) -> anyhow::Result<serde_json::Value> {
    let client = client::Client::new(&args.url);
    let pid = stats::find_server(args.server_pid);
    let report = match &args.workload {
        Workload::Fanout(a) => {
            let r = fanout::run(&client, a, pid).await?;
            if !args.json {
                fanout::print(&r);
            }
            serde_json::to_value(r)?
        }
        Workload::History(a) => {
            let r = history::run(&client, a, pid).await?;
            if !args.json {
                history::print(&r);
            }
            serde_json::to_value(r)?
        }
        Workload::Idle(a) => {
            let r = idle::run(&client, a, pid).await?;
            if !args.json {
                idle::print(&r);
            }
            serde_json::to_value(r)?
        }
        Workload::Connect(a) => {
            let r = connect::run(&client, a, pid).await?;
            if !args.json {
                connect::print(&r);
            }
            serde_json::to_value(r)?
        }
        Workload::Upload(a) => {
            let r = upload::run(&client, a, pid).await?;
            if !args.json {
                upload::print(&r);
            }
            serde_json::to_value(r)?
        }
        Workload::Replay(a) => {
            let r = replay::run(a).await?;
            if !args.json {
                replay::print(&r);
            }
            serde_json::to_value(r)?
        }
        Workload::Dataset(a) => {
            let r = dataset::run(&client, a, pid).await?;
            if !args.json {
                dataset::print(&r);
            }
            serde_json::to_value(r)?
        }
        Workload::Floor(a) => {
            let r = floor_in_child(a).await?;
            if !args.json {
                floor::print(&r);
            }
            serde_json::to_value(r)?
        }
        Workload::FloorServer => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("{}", listener.local_addr()?.port());
            floor::serve(listener).await;
            serde_json::Value::Null
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(report)
}
