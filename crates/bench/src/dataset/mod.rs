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

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use natter_bus::{Bus, PendingAppend};
use natter_common::config::Connections;
use natter_schemas::event::{EventBody, MessagePosted, ReadUpdated, RoomCreated, RoomMember};
use natter_schemas::model::{Role, RoomKind, Visibility};
use natter_schemas::{Event, ids};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::{Client, User, read_loop};
use crate::stats::{Percentiles, ServerUsage, UsageMeter, ms, table};

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

/// A small deterministic generator (xorshift), so that a data set (or a generated log in the
/// tests) is the same every time.
pub struct Rng(pub u64);

impl Rng {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    /// A float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A vocabulary of pronounceable words; word `i` is used with frequency about 1/(i+1), as in
/// natural text.
pub(crate) fn vocabulary(n: usize) -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "pl",
        "gr",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou"];
    let mut words = Vec::with_capacity(n);
    let mut i = 0usize;
    while words.len() < n {
        let mut w = String::new();
        let mut k = i;
        for _ in 0..3 {
            w.push_str(ONSETS[k % ONSETS.len()]);
            k /= ONSETS.len();
            w.push_str(VOWELS[k % VOWELS.len()]);
            k /= VOWELS.len();
        }
        w.push_str(["n", "r", "s", "t", "x"][i % 5]);
        words.push(w);
        i += 1;
    }
    words
}

/// An index in `0..n`, skewed toward the start (about Zipf with exponent 1).
pub(crate) fn skewed(rng: &mut Rng, n: usize) -> usize {
    let x = rng.unit();
    (((n as f64 + 1.0).powf(x) - 1.0) as usize).min(n - 1)
}

/// Appends with up to `window` acks outstanding.
pub(crate) struct Appender {
    bus: Bus,
    pending: VecDeque<PendingAppend>,
    window: usize,
    head: u64,
}

impl Appender {
    pub(crate) fn new(bus: Bus, window: usize) -> Self {
        Self {
            bus,
            pending: VecDeque::new(),
            window,
            head: 0,
        }
    }

    pub(crate) async fn append(&mut self, event: &Event, first: bool) -> anyhow::Result<()> {
        while self.pending.len() >= self.window {
            self.settle_one().await?;
        }
        let subject = match &event.body {
            EventBody::UserRegistered(u) => self.bus.subjects().username_claim(&u.username),
            EventBody::RoomCreated(_) => self
                .bus
                .subjects()
                .room_created(event.room_id.unwrap_or_default()),
            _ => self
                .bus
                .subjects()
                .room_event(event.room_id.unwrap_or_default(), event.type_name()),
        };
        let pending = self
            .bus
            .append_pipelined(subject, event, None, first)
            .await?;
        self.pending.push_back(pending);
        Ok(())
    }

    async fn settle_one(&mut self) -> anyhow::Result<()> {
        if let Some(p) = self.pending.pop_front() {
            self.head = self.head.max(p.await?.seq);
        }
        Ok(())
    }

    pub(crate) async fn finish(&mut self) -> anyhow::Result<u64> {
        while !self.pending.is_empty() {
            self.settle_one().await?;
        }
        Ok(self.head)
    }
}

async fn seed(client: &Client, args: &DatasetArgs) -> anyhow::Result<(Seeded, f64, f64)> {
    let tag = format!("d{:08x}", crate::fanout::rand_u32());
    eprintln!("registering {} users ...", args.users + 1);
    let reader = client.user(&format!("{tag}_reader")).await?;
    let mut others: Vec<User> = Vec::with_capacity(args.users);
    for i in 0..args.users {
        others.push(client.user(&format!("{tag}_{i}")).await?);
    }
    let bus = Bus::connect(
        &args.conn.nats_url,
        &args.conn.namespace,
        args.conn.connect_timeout(),
        "natter-bench",
    )
    .await
    .context("connect to NATS (the seed appends to the log directly)")?;
    let mut out = Appender::new(bus, 512);
    let mut rng = Rng(0x5eed_da7a);
    let words = vocabulary(5000);
    let started = Instant::now();

    // Rooms: the reader is in the first `user_rooms`; each has 10 members.
    eprintln!("appending {} rooms ...", args.rooms);
    let rooms: Vec<Uuid> = (0..args.rooms).map(|_| Uuid::now_v7()).collect();
    let mut members: Vec<Vec<Uuid>> = Vec::with_capacity(args.rooms);
    for (i, room) in rooms.iter().enumerate() {
        let mut users: Vec<Uuid> = (0..10)
            .map(|_| others[rng.below(others.len())].id)
            .collect();
        users.sort_unstable();
        users.dedup();
        if i < args.user_rooms {
            users.push(reader.id);
        }
        let owner = users[0];
        let event = Event::new(
            owner,
            Some(*room),
            EventBody::RoomCreated(RoomCreated {
                kind: RoomKind::Room,
                name: format!("{tag} room {i}"),
                visibility: Visibility::Private,
                topic: None,
                members: users
                    .iter()
                    .map(|&user_id| RoomMember {
                        user_id,
                        role: if user_id == owner {
                            Role::Owner
                        } else {
                            Role::Member
                        },
                    })
                    .collect(),
            }),
        );
        out.append(&event, true).await?;
        members.push(users);
    }

    // Messages: skewed over rooms (shuffled so the reader's rooms are of every size), 10%
    // thread replies, 2% mentioning the reader.
    eprintln!("appending {} messages ...", args.messages);
    let mut order: Vec<usize> = (0..args.rooms).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut roots: Vec<Vec<Uuid>> = vec![Vec::new(); args.rooms];
    let mut threads = Vec::new();
    let reader_room_count = args.user_rooms.min(args.rooms);
    for n in 0..args.messages {
        let r = order[skewed(&mut rng, args.rooms)];
        let room = rooms[r];
        let senders: Vec<Uuid> = members[r]
            .iter()
            .copied()
            .filter(|u| *u != reader.id)
            .collect();
        let sender = senders[rng.below(senders.len())];
        let len = 4 + rng.below(12);
        let mut body = String::new();
        for k in 0..len {
            if k > 0 {
                body.push(' ');
            }
            body.push_str(&words[skewed(&mut rng, words.len())]);
        }
        let mut mentions = Vec::new();
        if r < reader_room_count && rng.below(50) == 0 {
            body.push_str(" @reader");
            mentions.push(reader.id);
        }
        let thread_root_id = if rng.below(10) == 0 && !roots[r].is_empty() {
            let root = roots[r][rng.below(roots[r].len())];
            if r < reader_room_count && threads.len() < 1000 && !threads.contains(&root) {
                threads.push(root);
            }
            Some(root)
        } else {
            None
        };
        let client_msg_id = format!("{tag}-{n}");
        let message_id = ids::message_id(sender, &client_msg_id);
        if thread_root_id.is_none() && roots[r].len() < 50 {
            roots[r].push(message_id);
        }
        let event = Event::new(
            sender,
            Some(room),
            EventBody::MessagePosted(MessagePosted {
                message_id,
                client_msg_id,
                body,
                thread_root_id,
                mentions,
                checked_at: None,
            }),
        );
        out.append(&event, false).await?;
        if n % 100_000 == 99_999 {
            eprintln!(
                "  {} messages, {:.0}/s",
                n + 1,
                (n + 1) as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    // The reader has read part of each room.
    let head = out.finish().await?;
    for room in rooms.iter().take(reader_room_count) {
        let seq = 1 + (rng.next() % head.max(1));
        let event = Event::new(
            reader.id,
            Some(*room),
            EventBody::ReadUpdated(ReadUpdated { seq }),
        );
        out.append(&event, false).await?;
    }
    let head = out.finish().await?;
    let appended = started.elapsed().as_secs_f64();
    eprintln!("appended up to seq {head} in {appended:.1}s; waiting for the read models ...");

    let projecting = Instant::now();
    let token = reader.token.clone();
    let probes = [
        format!("/v1/rooms/{}/messages?limit=1&min_seq={head}", rooms[0]),
        format!("/v1/unread?min_seq={head}"),
        format!("/v1/search?q=x&limit=1&min_seq={head}"),
    ];
    for probe in &probes {
        loop {
            let (status, body) = client
                .call(reqwest::Method::GET, probe, Some(&token), None)
                .await?;
            match status {
                200 => break,
                503 => eprintln!(
                    "  still projecting ({:.0}s)",
                    projecting.elapsed().as_secs_f64()
                ),
                _ => bail!("{probe}: {status} {body}"),
            }
        }
    }
    let projected = projecting.elapsed().as_secs_f64();
    eprintln!("projected in {projected:.1}s; VACUUM ANALYZE (what autovacuum would do) ...");
    // Planner statistics and visibility maps, as autovacuum keeps them in a deployment (this
    // machine's PostgreSQL runs with autovacuum off).
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.conn.database_url)
        .await
        .context("connect to PostgreSQL (DATABASE_URL) for VACUUM ANALYZE")?;
    sqlx::query("VACUUM ANALYZE").execute(&db).await?;
    db.close().await;
    let seeded = Seeded {
        namespace: args.conn.namespace.as_str().to_owned(),
        rooms: args.rooms,
        messages: args.messages,
        user_rooms: args.user_rooms,
        username: format!("{tag}_reader"),
        member_of: rooms[..reader_room_count].to_vec(),
        threads,
        common_words: (0..50).map(|i| words[i].clone()).collect(),
        middling_words: (0..50).map(|i| words[100 + i * 18].clone()).collect(),
        rare_words: (0..50).map(|i| words[1000 + i * 80].clone()).collect(),
        head,
    };
    Ok((seeded, appended, projected))
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
    let (mut samples, errors) = read_loop(
        client,
        token,
        args.readers,
        Duration::from_secs(args.duration),
        path,
    )
    .await;
    let requests = samples.0.len() as u64;
    Workload {
        name: name.to_owned(),
        requests,
        requests_per_s: requests as f64 / args.duration.max(1) as f64,
        errors,
        latency: samples.percentiles(),
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
                "{:.0} req/s, {}, {} errors",
                w.requests_per_s,
                ms(&w.latency),
                w.errors
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
