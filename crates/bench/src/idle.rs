//! `idle`: many authenticated sockets, each subscribed to a room, doing nothing; the gateway's
//! memory per socket.

use std::time::Duration;

use serde::Serialize;

use crate::client::{Client, subscribe};
use crate::stats::{ServerUsage, UsageMeter, read_proc, table};

#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// Sockets to open.
    #[arg(long, default_value_t = 2000)]
    pub sockets: usize,
    /// Rooms they subscribe to (round robin).
    #[arg(long, default_value_t = 20)]
    pub rooms: usize,
    /// Sockets per user.
    #[arg(long, default_value_t = 10)]
    pub per_user: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub sockets: usize,
    pub rss_mib_before: f64,
    pub rss_mib_after: f64,
    pub bytes_per_socket: f64,
    pub sockets_per_gib: f64,
    pub server: ServerUsage,
}

pub async fn run(client: &Client, args: &IdleArgs, pid: Option<u32>) -> anyhow::Result<IdleReport> {
    let pid = pid.ok_or_else(|| anyhow::anyhow!("idle needs the gateway's pid (--server-pid)"))?;
    let tag = format!("i{:08x}", crate::fanout::rand_u32());
    let owner = client.user(&format!("{tag}_owner")).await?;
    let mut rooms = Vec::new();
    for r in 0..args.rooms.max(1) {
        rooms.push(client.create_room(&owner, &format!("{tag}-{r}")).await?);
    }
    let users_needed = args.sockets.div_ceil(args.per_user.max(1));
    let mut users = Vec::new();
    for u in 0..users_needed {
        users.push(client.user(&format!("{tag}_u{u}")).await?);
    }
    // Let the allocator settle, then read the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = read_proc(pid).map_or(0, |p| p.rss_bytes);
    let meter = UsageMeter::start(Some(pid));
    eprintln!("opening {} sockets ...", args.sockets);
    let mut sockets = Vec::with_capacity(args.sockets);
    let mut opening = Vec::new();
    for i in 0..args.sockets {
        let client = client.clone();
        let user = users[i / args.per_user.max(1)].clone();
        let room = rooms[i % rooms.len()];
        opening.push(tokio::spawn(async move {
            let (mut sink, mut source, _) = client.connect(&user).await?;
            subscribe(&mut sink, &mut source, room, None).await?;
            anyhow::Ok((sink, source))
        }));
        if opening.len() == 200 {
            for task in opening.drain(..) {
                sockets.push(task.await??);
            }
        }
    }
    for task in opening {
        sockets.push(task.await??);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = read_proc(pid).map_or(0, |p| p.rss_bytes);
    let server = meter.finish();
    let per_socket = after.saturating_sub(before) as f64 / args.sockets.max(1) as f64;
    drop(sockets);
    Ok(IdleReport {
        sockets: args.sockets,
        rss_mib_before: before as f64 / 1048576.0,
        rss_mib_after: after as f64 / 1048576.0,
        bytes_per_socket: per_socket,
        sockets_per_gib: if per_socket > 0.0 {
            1073741824.0 / per_socket
        } else {
            0.0
        },
        server,
    })
}

pub fn print(r: &IdleReport) {
    table(
        &format!("idle: {} subscribed sockets", r.sockets),
        &[
            (
                "gateway rss",
                format!("{:.1} -> {:.1} MiB", r.rss_mib_before, r.rss_mib_after),
            ),
            (
                "per socket",
                format!("{:.1} KiB", r.bytes_per_socket / 1024.0),
            ),
            ("sockets per GiB", format!("{:.0}", r.sockets_per_gib)),
        ],
    );
}
