//! Looking into the log: `natter events tail|dump|stats` and `natter rooms show`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};
use futures::StreamExt;
use natter_bus::Bus;
use natter_common::Shutdown;
use natter_common::config::Connections;
use natter_projector::tools;
use uuid::Uuid;

use crate::{StreamArgs, connect_postgres, open_log};

/// `natter events ...`
#[derive(Args)]
pub struct EventsArgs {
    #[command(flatten)]
    conn: Connections,
    #[command(flatten)]
    stream: StreamArgs,
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Follow new events as they are appended, one JSON line each, until interrupted.
    Tail {
        /// Only this room's events.
        #[arg(long)]
        room: Option<Uuid>,
        /// Only events of this type (`message.posted`, `member.kicked`, ...).
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Start at this seq instead of after the head (show history first, then follow).
        #[arg(long)]
        from: Option<u64>,
        /// Show sealed personal data in the clear (erased data stays blank).
        #[arg(long)]
        unseal: bool,
    },
    /// Print stored events `--from`..=`--to` as JSON lines: `{"seq", "subject", "event"}`,
    /// the event exactly as stored (or, with `--upcast`, as today's readers see it).
    Dump {
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Default: the head of the log.
        #[arg(long)]
        to: Option<u64>,
        /// Print each event upcast to the current version of its type.
        #[arg(long)]
        upcast: bool,
        /// Show sealed personal data in the clear (erased data stays blank).
        #[arg(long)]
        unseal: bool,
    },
    /// Counts and sizes by type and version, first and last seq and time.
    Stats {
        #[arg(long)]
        json: bool,
    },
}

/// `natter rooms ...`
#[derive(Args)]
pub struct RoomsArgs {
    #[command(flatten)]
    conn: Connections,
    #[command(flatten)]
    stream: StreamArgs,
    #[command(subcommand)]
    command: RoomsCommand,
}

#[derive(Subcommand)]
enum RoomsCommand {
    /// A room's state (settings, members and roles, bans, pins, message counts) as of any seq,
    /// replayed from its events.
    Show {
        id: Uuid,
        /// The seq to show the room at (default: the head of the log).
        #[arg(long)]
        at: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

/// A stored event with its personal data unsealed (and upcast), as JSON; None when it cannot
/// be read (it is then shown as stored). The inspectors' callbacks are not async: the unseal
/// runs on this thread, in the runtime.
fn unsealed(bus: &natter_bus::Bus, payload: &[u8]) -> Option<Vec<u8>> {
    let mut event = natter_schemas::Event::from_bytes(payload).ok()?;
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| handle.block_on(bus.unseal(&mut event))).ok()?;
    Some(event.to_bytes())
}

/// The fields of a stored event that the inspectors look at.
#[derive(serde::Deserialize)]
struct Head {
    #[serde(rename = "type", default)]
    event_type: String,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    occurred_at: Option<String>,
}

/// Reads events on `filter` from `from` on, calling `each(seq, subject, payload)`: up to `to`
/// (or what the log held at the start when `to` is `None` and `follow` is false), or forever
/// when `follow`, until `shutdown`.
async fn scan(
    bus: &Bus,
    filter: String,
    from: u64,
    to: Option<u64>,
    follow: bool,
    shutdown: &Shutdown,
    mut each: impl FnMut(u64, &str, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (mut messages, pending) = bus.read_filtered(filter, from).await?;
    let mut left = pending;
    while follow || left > 0 {
        // Reading what the log held gives up after 30 s of silence; following waits forever.
        let wait = if follow {
            Duration::MAX
        } else {
            Duration::from_secs(30)
        };
        let next = tokio::select! {
            () = shutdown.wait() => return Ok(()),
            next = tokio::time::timeout(wait, messages.next()) => next?,
        };
        let message = next.ok_or_else(|| anyhow::anyhow!("the log reader ended"))??;
        left = left.saturating_sub(1);
        let seq = message
            .info()
            .map_err(|e| anyhow::anyhow!("message info: {e}"))?
            .stream_sequence;
        if to.is_some_and(|to| seq > to) {
            break;
        }
        each(seq, message.subject.as_str(), &message.payload)?;
    }
    Ok(())
}

/// One JSON line: the seq, the subject and the stored event (or, when it is not JSON, its
/// bytes as a string under `undecodable`).
fn json_line(out: &mut impl Write, seq: u64, subject: &str, payload: &[u8]) -> std::io::Result<()> {
    let subject = serde_json::Value::from(subject);
    if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok() {
        out.write_all(format!("{{\"seq\":{seq},\"subject\":{subject},\"event\":").as_bytes())?;
        out.write_all(payload)?;
        out.write_all(b"}\n")
    } else {
        let raw = serde_json::Value::from(String::from_utf8_lossy(payload).into_owned());
        writeln!(
            out,
            "{{\"seq\":{seq},\"subject\":{subject},\"undecodable\":{raw}}}"
        )
    }
}

#[derive(Default, serde::Serialize)]
struct TypeStats {
    count: u64,
    bytes: u64,
}

pub async fn events(args: EventsArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    let bus = open_log(&args.conn, &args.stream, "natter-events").await?;
    let stdout = std::io::stdout();
    match args.command {
        EventsCommand::Tail {
            room,
            event_type,
            from,
            unseal,
        } => {
            let filter = match room {
                Some(room) => bus.subjects().room_events(room),
                None => bus.subjects().all_events(),
            };
            let from = match from {
                Some(from) => from,
                None => bus.last_seq().await? + 1,
            };
            tracing::info!(from, "following the log");
            scan(
                &bus,
                filter,
                from,
                None,
                true,
                &shutdown,
                |seq, subject, payload| {
                    if let Some(wanted) = &event_type {
                        let head: Option<Head> = serde_json::from_slice(payload).ok();
                        if head.is_none_or(|h| &h.event_type != wanted) {
                            return Ok(());
                        }
                    }
                    let mut out = stdout.lock();
                    let clear = unseal.then(|| unsealed(&bus, payload)).flatten();
                    json_line(&mut out, seq, subject, clear.as_deref().unwrap_or(payload))?;
                    out.flush()?;
                    Ok(())
                },
            )
            .await
        }
        EventsCommand::Dump {
            from,
            to,
            upcast,
            unseal,
        } => {
            let to = match to {
                Some(to) => to,
                None => bus.last_seq().await?,
            };
            if to < from {
                return Ok(());
            }
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            scan(
                &bus,
                bus.subjects().all_events(),
                from,
                Some(to),
                false,
                &shutdown,
                |seq, subject, payload| {
                    let current = if unseal {
                        unsealed(&bus, payload)
                    } else {
                        upcast
                            .then(|| natter_schemas::Event::from_bytes(payload).ok())
                            .flatten()
                            .map(|event| event.to_bytes())
                    };
                    Ok(json_line(
                        &mut out,
                        seq,
                        subject,
                        current.as_deref().unwrap_or(payload),
                    )?)
                },
            )
            .await?;
            out.flush()?;
            Ok(())
        }
        EventsCommand::Stats { json } => {
            let (first, last) = bus.seq_range().await?;
            let mut by_type: BTreeMap<(String, u64), TypeStats> = BTreeMap::new();
            let (mut count, mut bytes, mut undecodable) = (0u64, 0u64, 0u64);
            let (mut first_at, mut last_at) = (None, None);
            scan(
                &bus,
                bus.subjects().all_events(),
                first,
                Some(last),
                false,
                &shutdown,
                |_, _, payload| {
                    count += 1;
                    bytes += payload.len() as u64;
                    match serde_json::from_slice::<Head>(payload) {
                        Ok(head) => {
                            if first_at.is_none() {
                                first_at = head.occurred_at.clone();
                            }
                            last_at = head.occurred_at.or(last_at.take());
                            let entry = by_type.entry((head.event_type, head.version)).or_default();
                            entry.count += 1;
                            entry.bytes += payload.len() as u64;
                        }
                        Err(_) => undecodable += 1,
                    }
                    Ok(())
                },
            )
            .await?;
            if json {
                let types: Vec<serde_json::Value> = by_type
                    .iter()
                    .map(|((t, v), s)| {
                        serde_json::json!({"type": t, "version": v, "count": s.count, "bytes": s.bytes})
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({
                        "events": count, "bytes": bytes, "undecodable": undecodable,
                        "first_seq": first, "last_seq": last,
                        "first_at": first_at, "last_at": last_at, "types": types,
                    })
                );
            } else {
                println!("events {count}, {bytes} bytes, seq {first}..{last}");
                if let (Some(a), Some(b)) = (&first_at, &last_at) {
                    println!("from {a} to {b}");
                }
                println!(
                    "{:<24} {:>7} {:>12} {:>14} {:>9}",
                    "TYPE", "VERSION", "COUNT", "BYTES", "AVG"
                );
                for ((t, v), s) in &by_type {
                    println!(
                        "{t:<24} {v:>7} {:>12} {:>14} {:>9}",
                        s.count,
                        s.bytes,
                        s.bytes / s.count.max(1)
                    );
                }
                if undecodable > 0 {
                    println!("undecodable: {undecodable}");
                }
            }
            Ok(())
        }
    }
}

pub async fn rooms(args: RoomsArgs) -> anyhow::Result<()> {
    let bus = open_log(&args.conn, &args.stream, "natter-rooms").await?;
    let pool = connect_postgres(&args.conn, 4).await?;
    match args.command {
        RoomsCommand::Show { id, at, json } => {
            let r = tools::room_at(&bus, &pool, id, at).await?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
                return Ok(());
            }
            let Some(room) = &r.room else {
                println!(
                    "room {id} did not exist at seq {} (log head {})",
                    r.at, r.last_seq
                );
                return Ok(());
            };
            println!(
                "room {id} as of seq {} (log head {}; {} of its events replayed)",
                r.at, r.last_seq, r.events
            );
            println!(
                "  {:?}: {} {}{}, created {}, last event at seq {}",
                room.name,
                room.visibility,
                room.kind,
                if room.archived { ", archived" } else { "" },
                room.created_at,
                room.last_seq
            );
            if let Some(topic) = &room.topic {
                println!("  topic: {topic:?}");
            }
            println!("  members ({}):", r.members.len());
            for m in &r.members {
                let muted = m
                    .muted_until
                    .map(|u| format!(", muted until {u}"))
                    .unwrap_or_default();
                println!(
                    "    {} {:<20} {:<6} joined at seq {}{muted}",
                    m.user_id,
                    m.username.as_deref().unwrap_or("?"),
                    m.role,
                    m.joined_seq
                );
            }
            if !r.bans.is_empty() {
                println!("  banned: {}", join(&r.bans));
            }
            if !r.pins.is_empty() {
                println!("  pinned: {}", join(&r.pins));
            }
            println!(
                "  messages: {} ({} deleted)",
                r.messages, r.deleted_messages
            );
            Ok(())
        }
    }
}

fn join(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
