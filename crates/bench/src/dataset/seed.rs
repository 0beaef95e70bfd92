//! Seeding the data set: users over REST, rooms, messages and read positions appended to the
//! log as the gateway would, pipelined.

use super::*;

pub(super) async fn seed(
    client: &Client,
    args: &DatasetArgs,
) -> anyhow::Result<(Seeded, f64, f64)> {
    let tag = format!("d{:08x}", crate::fanout::rand_u32());
    eprintln!("registering {} users ...", args.users + 1);
    let reader = client.user(&format!("{tag}_reader")).await?;
    let mut others: Vec<User> = Vec::with_capacity(args.users);
    for i in 0..args.users {
        others.push(client.user(&format!("{tag}_{i}")).await?);
    }
    let bus = Bus::connect(&args.conn, "natter-bench")
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
                        pending: false,
                    })
                    .collect(),
                e2ee: false,
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
                attachments: Vec::new(),
                format: Default::default(),
                mention_names: Vec::new(),
                encrypted: None,
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
