//! `replay`: how fast the read models rebuild from the log. When the namespace's log is empty
//! it is first filled with a generated chat history (by default 1M events: messages with
//! threads and mentions, reactions, edits, deletes, read positions, over 1,000 rooms); then
//! each projection replays the whole log into scratch tables (as `natter projections verify`
//! does: the live tables are not touched) and the events/s are printed. On a namespace whose
//! log has events, that log is replayed as it is.

use std::time::Instant;

use anyhow::Context;
use natter_bus::Bus;
use natter_common::Shutdown;
use natter_common::config::Connections;
use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::shadow::{Indexes, Shadow};
use natter_projections::unread::Unread;
use natter_projections::{Projection, db};
use natter_replay::{Bulk, replay_partitioned};
use natter_schemas::Event;
use natter_schemas::event::{
    Credentials, EventBody, MessageEdited, MessagePosted, MessageRef, ReactionChanged, ReadUpdated,
    RoomCreated, RoomMember, UserRegistered,
};
use natter_schemas::model::{Role, RoomKind, Visibility};
use serde::Serialize;
use uuid::Uuid;

use crate::generate::{Appender, Rng, skewed, vocabulary};
use crate::stats::table;

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub conn: Connections,
    /// Events to generate when the namespace's log is empty.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Rooms in the generated log (10 members each, from 2,000 users).
    #[arg(long, default_value_t = 1_000)]
    pub rooms: usize,
    /// Most events per transaction.
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// The projections to replay, one after another.
    #[arg(long, value_delimiter = ',', default_value = "history,unread,search")]
    pub projections: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub projection: String,
    pub events: u64,
    pub seconds: f64,
    pub events_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Events in the log.
    pub events: u64,
    /// Seconds to generate and append them (absent when the log was replayed as found).
    pub generate_s: Option<f64>,
    pub batch: usize,
    pub results: Vec<Replayed>,
}

pub async fn run(args: &ReplayArgs) -> anyhow::Result<ReplayReport> {
    let bus = Bus::connect(&args.conn, "natter-bench")
        .await
        .context("connect to NATS")?;
    bus.ensure_stream(&Default::default()).await?;
    let pool = db::connect_and_migrate(&args.conn.database_url, 4, args.conn.connect_timeout())
        .await
        .context("connect to PostgreSQL")?;
    let mut head = bus.last_seq().await?;
    let mut generate_s = None;
    if head == 0 {
        eprintln!("generating {} events ...", args.events);
        let started = Instant::now();
        head = generate(&bus, args).await?;
        generate_s = Some(started.elapsed().as_secs_f64());
    } else {
        eprintln!("replaying the log as found: {head} events");
    }
    let mut results = Vec::new();
    for name in &args.projections {
        let r = match name.as_str() {
            History::NAME => measure(&bus, &pool, &History, head, args.batch).await?,
            Unread::NAME => measure(&bus, &pool, &Unread, head, args.batch).await?,
            Search::NAME => measure(&bus, &pool, &Search::default(), head, args.batch).await?,
            other => anyhow::bail!("unknown projection {other}"),
        };
        eprintln!("{}: {:.0} events/s", r.projection, r.events_per_s);
        results.push(r);
    }
    pool.close().await;
    Ok(ReplayReport {
        events: head,
        generate_s,
        batch: args.batch,
        results,
    })
}

/// Replays the log through `head` into scratch tables of `projection`, timed.
async fn measure<P: Projection + Clone + 'static>(
    bus: &Bus,
    pool: &sqlx::PgPool,
    projection: &P,
    head: u64,
    batch: usize,
) -> anyhow::Result<Replayed> {
    let schema = format!("natter_bench_{}", projection.name());
    let mut scratch = Shadow::create(pool, &schema, projection, 3, Indexes::Deferred).await?;
    projection.prepare(scratch.pool()).await?;
    let started = Instant::now();
    // As `natter projections rebuild` loads a shadow.
    let reached = replay_partitioned(
        bus,
        scratch.pool(),
        projection,
        Bulk {
            batch,
            target: head,
            partitions: 2,
        },
        &Shutdown::new(),
        |_, _| {},
    )
    .await?;
    // What a rebuild does next, and part of its time.
    scratch.build_deferred().await?;
    let seconds = started.elapsed().as_secs_f64();
    scratch.discard(pool).await?;
    anyhow::ensure!(reached >= head, "the replay stopped at {reached} of {head}");
    Ok(Replayed {
        projection: projection.name().to_owned(),
        events: head,
        seconds,
        events_per_s: head as f64 / seconds.max(1e-9),
    })
}

/// A room's recent messages, for replies, reactions, edits and deletes.
struct RoomLog {
    id: Uuid,
    members: Vec<Uuid>,
    recent: Vec<(Uuid, Uuid)>,
}

/// Appends a chat history of `args.events` events; returns the head.
async fn generate(bus: &Bus, args: &ReplayArgs) -> anyhow::Result<u64> {
    let mut out = Appender::new(bus.clone(), 1024);
    let mut rng = Rng(0x7e91_a7e5);
    let words = vocabulary(5000);
    let users: Vec<Uuid> = (0..2_000).map(|_| Uuid::new_v4()).collect();
    let mut written = 0u64;
    let tag = format!("r{:08x}", crate::fanout::rand_u32());
    for (i, user) in users.iter().enumerate() {
        let username = format!("{tag}_{i}");
        let event = Event::new(
            *user,
            None,
            EventBody::UserRegistered(UserRegistered {
                user_id: *user,
                username: username.clone(),
                display_name: username,
                credentials: Credentials::Password {
                    hash: "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2g$YmVuY2g".into(),
                },
            }),
        );
        out.append(&event, true).await?;
        written += 1;
    }
    let mut rooms = Vec::with_capacity(args.rooms);
    for i in 0..args.rooms {
        let mut members: Vec<Uuid> = (0..10).map(|_| rng.pick(&users)).collect();
        members.sort_unstable();
        members.dedup();
        let room = Uuid::now_v7();
        let event = Event::new(
            members[0],
            Some(room),
            EventBody::RoomCreated(RoomCreated {
                kind: RoomKind::Room,
                name: format!("{tag} room {i}"),
                visibility: Visibility::Public,
                topic: None,
                members: members
                    .iter()
                    .enumerate()
                    .map(|(k, &user_id)| RoomMember {
                        user_id,
                        role: if k == 0 { Role::Owner } else { Role::Member },
                        pending: false,
                    })
                    .collect(),
                e2ee: false,
            }),
        );
        out.append(&event, true).await?;
        written += 1;
        rooms.push(RoomLog {
            id: room,
            members,
            recent: Vec::new(),
        });
    }
    let mut n = 0u64;
    while written < args.events {
        let r = skewed(&mut rng, rooms.len());
        let room = &mut rooms[r];
        let actor = rng.pick(&room.members);
        let roll = rng.below(100);
        let body = match roll {
            // A read position: up to the log's head so far (the appends are in order).
            0..=5 => EventBody::ReadUpdated(ReadUpdated { seq: written }),
            6..=9 if !room.recent.is_empty() => EventBody::ReactionAdded(ReactionChanged {
                message_id: rng.pick(&room.recent).0,
                emoji: ["👍", "🎉", "❤️", "😂"][rng.below(4)].into(),
            }),
            10..=11 if !room.recent.is_empty() => {
                let (message_id, _) = rng.pick(&room.recent);
                EventBody::MessageEdited(MessageEdited {
                    message_id,
                    body: sentence(&mut rng, &words),
                    mentions: Vec::new(),
                    format: Default::default(),
                    mention_names: Vec::new(),
                    encrypted: None,
                })
            }
            12 if !room.recent.is_empty() => EventBody::MessageDeleted(MessageRef {
                message_id: rng.pick(&room.recent).0,
            }),
            _ => {
                n += 1;
                let message_id = Uuid::new_v4();
                let thread_root_id = (rng.below(10) == 0 && !room.recent.is_empty())
                    .then(|| rng.pick(&room.recent).0);
                let mentions = if rng.below(20) == 0 {
                    vec![rng.pick(&room.members)]
                } else {
                    Vec::new()
                };
                if room.recent.len() >= 50 {
                    room.recent.remove(0);
                }
                room.recent.push((message_id, actor));
                EventBody::MessagePosted(MessagePosted {
                    message_id,
                    client_msg_id: format!("b{n}"),
                    body: sentence(&mut rng, &words),
                    thread_root_id,
                    mentions,
                    checked_at: None,
                    attachments: Vec::new(),
                    format: Default::default(),
                    mention_names: Vec::new(),
                    encrypted: None,
                })
            }
        };
        // Edits are the author's; other events are anyone's.
        let actor = match &body {
            EventBody::MessageEdited(e) => room
                .recent
                .iter()
                .find(|(id, _)| *id == e.message_id)
                .map_or(actor, |(_, author)| *author),
            _ => actor,
        };
        out.append(&Event::new(actor, Some(room.id), body), false)
            .await?;
        written += 1;
        if written.is_multiple_of(100_000) {
            eprintln!("  {written} events appended");
        }
    }
    out.finish().await
}

/// 5 to 20 words, common ones more often.
fn sentence(rng: &mut Rng, words: &[String]) -> String {
    let n = 5 + rng.below(16);
    (0..n)
        .map(|_| words[skewed(rng, words.len())].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn print(r: &ReplayReport) {
    if let Some(s) = r.generate_s {
        println!(
            "generated {} events in {s:.1} s ({:.0} events/s appended)",
            r.events,
            r.events as f64 / s.max(1e-9)
        );
    }
    let rows: Vec<(&str, String)> = r
        .results
        .iter()
        .map(|x| {
            (
                x.projection.as_str(),
                format!(
                    "{} events in {:.1} s = {:.0} events/s",
                    x.events, x.seconds, x.events_per_s
                ),
            )
        })
        .collect();
    table("replay (scratch tables, from seq 1)", &rows);
    println!("batch {} events per transaction", r.batch);
}
