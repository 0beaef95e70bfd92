//! `connect`: N subscribed sockets drop at once, messages arrive meanwhile, and all resume with
//! `since` at once; how long until every socket has recovered, and whether any lost an event.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::client::{Client, next_json, subscribe};
use crate::stack::{StackMeter, StackUsage};
use crate::stats::{Percentiles, Samples, ms, table};

#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Sockets in the storm.
    #[arg(long, default_value_t = 500)]
    pub sockets: usize,
    /// Rooms (round robin).
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Messages posted to each room while the sockets are away.
    #[arg(long, default_value_t = 5)]
    pub missed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectReport {
    pub sockets: usize,
    pub missed_per_socket: usize,
    /// From the first reconnect to the last socket holding all its missed events.
    pub all_recovered_ms: f64,
    pub per_socket: Percentiles,
    pub not_recovered: u64,
    pub lost: u64,
    /// The whole stack's CPU from the first reconnect to the last recovery; its `*_per_msg`
    /// figures are per resume.
    pub stack: StackUsage,
}

pub async fn run(
    client: &Client,
    args: &ConnectArgs,
    server_pid: Option<u32>,
) -> anyhow::Result<ConnectReport> {
    let tag = format!("c{:08x}", crate::fanout::rand_u32());
    let owner = client.user(&format!("{tag}_owner")).await?;
    let mut rooms = Vec::new();
    for r in 0..args.rooms.max(1) {
        rooms.push(client.create_room(&owner, &format!("{tag}-{r}")).await?);
    }
    let users_needed = args.sockets.div_ceil(10);
    let mut users = Vec::new();
    for u in 0..users_needed {
        users.push(client.user(&format!("{tag}_u{u}")).await?);
    }
    // Connect and subscribe; remember each room's last seq and the epoch.
    let mut positions = Vec::new();
    let mut epoch = String::new();
    for i in 0..args.sockets {
        let user = &users[i / 10];
        let room = rooms[i % rooms.len()];
        let (mut sink, mut source, hello) = client.connect(user).await?;
        epoch = hello["epoch"].as_str().unwrap_or_default().to_owned();
        let reply = subscribe(&mut sink, &mut source, room, None).await?;
        positions.push((user.clone(), room, reply["last_seq"].as_u64().unwrap_or(0)));
        drop((sink, source));
    }
    // While everyone is away, each room gets `missed` messages.
    let mut expected = std::collections::HashMap::new();
    for room in &rooms {
        let mut seqs = Vec::new();
        for m in 0..args.missed {
            let (status, reply) = client
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/rooms/{room}/messages"),
                    Some(&owner.token),
                    Some(json!({"body": format!("missed {m}"), "client_msg_id": format!("{room}-{m}")})),
                )
                .await?;
            anyhow::ensure!(status == 201, "send: {status} {reply}");
            seqs.push(reply["seq"].as_u64().unwrap_or(0));
        }
        expected.insert(*room, seqs);
    }
    eprintln!("{} sockets resuming at once ...", args.sockets);
    let meter = StackMeter::start(server_pid);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (user, room, since) in positions {
        let client = client.clone();
        let epoch = epoch.clone();
        let want: Vec<u64> = expected[&room]
            .iter()
            .copied()
            .filter(|s| *s > since)
            .collect();
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut source, _) = client.connect(&user).await?;
            let reply = subscribe(&mut sink, &mut source, room, Some((since, &epoch))).await?;
            if reply["recovered"] != true {
                return anyhow::Ok((None, want.len() as u64));
            }
            let mut got = Vec::new();
            while got.len() < want.len() {
                let frame =
                    tokio::time::timeout(Duration::from_secs(30), next_json(&mut source)).await??;
                let Some(frame) = frame else { break };
                if frame["type"] == "event" && frame["event"]["type"] == "message.posted" {
                    got.push(frame["seq"].as_u64().unwrap_or(0));
                }
            }
            let lost = want.iter().filter(|s| !got.contains(s)).count() as u64;
            anyhow::Ok((Some(start.elapsed()), lost))
        }));
    }
    let mut per_socket = Samples::default();
    let (mut not_recovered, mut lost) = (0u64, 0u64);
    for task in tasks {
        match task.await?? {
            (Some(took), l) => {
                per_socket.push(took);
                lost += l;
            }
            (None, _) => not_recovered += 1,
        }
    }
    let stack = meter.stop().usage(args.sockets as u64);
    let all = per_socket.0.iter().max().copied().unwrap_or(0) as f64 / 1000.0;
    Ok(ConnectReport {
        sockets: args.sockets,
        missed_per_socket: args.missed,
        all_recovered_ms: all,
        per_socket: per_socket.percentiles(),
        not_recovered,
        lost,
        stack,
    })
}

pub fn print(r: &ConnectReport) {
    table(
        &format!(
            "connect: {} sockets resume with since, {} missed each",
            r.sockets, r.missed_per_socket
        ),
        &[
            (
                "all recovered after",
                format!("{:.0} ms", r.all_recovered_ms),
            ),
            ("per socket", ms(&r.per_socket)),
            (
                "not recovered / lost",
                format!("{} / {}", r.not_recovered, r.lost),
            ),
        ]
        .into_iter()
        .chain(crate::stack::rows(&r.stack, "stack cpu per resume"))
        .collect::<Vec<_>>(),
    );
}
