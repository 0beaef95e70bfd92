//! Which message ids each sender has already posted, as far as a retry needs to know, without
//! asking PostgreSQL for every send.
//!
//! A retried send reuses its `client_msg_id`, so it names the same message id. Inside the log's
//! dedupe window JetStream answers a retry with the original; after it, the send path has to
//! know whether the message exists. For each user sending through this gateway, a Bloom
//! filter holds the ids of their messages that the history read model had when the filter was
//! last refreshed, and every message appended after that refresh began is still inside the
//! dedupe window until the filter expires. So a filter that answers "certainly not posted"
//! proves the send new; "perhaps" (about 1 in 100 new sends), an expired filter or none yet
//! sends the question to PostgreSQL as before.
//!
//! Why that covers every earlier message: a refresh reads the log's head `h`, waits until the
//! history read model has applied `h`, then reads the user's messages past the filter's last
//! position. Every message at or below `h` is then in the filter; every message above `h` was
//! appended after the refresh began, so JetStream drops its retries until `window` after
//! that. The filter is trusted until `window - margin` after the refresh began and refreshed
//! every quarter window, so a sender's filter normally never expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natter_bus::Bus;
use natter_common::bloom::Bloom;
use sqlx::PgPool;
use uuid::Uuid;

use natter_realtime::readwait::ProjectionWatch;

/// Filters of users who sent nothing for this long are dropped.
const IDLE: Duration = Duration::from_secs(600);
/// A user with more messages than this goes to PostgreSQL for every send (their filter would
/// take more than about 250 KB, and its refreshes would read that many rows), and is not
/// read again for [`IDLE`].
const MAX_IDS: usize = 200_000;

#[derive(Clone)]
pub struct SentIds(Arc<Inner>);

struct Inner {
    bus: Bus,
    pool: PgPool,
    history: ProjectionWatch,
    /// The log's dedupe window as last read (from the stream, at start and at each refresh);
    /// zero turns the filters off.
    window: Mutex<Duration>,
    read_wait: Duration,
    users: Mutex<HashMap<Uuid, Known>>,
}

struct Known {
    /// None until the first refresh succeeds, or for a user with too many messages.
    ids: Option<Bloom>,
    /// Every message at or below this seq is in `ids`.
    through: u64,
    /// When the last successful refresh began.
    refreshed: Option<Instant>,
    /// The dedupe window when it did (a window shortened since is what counts).
    window: Duration,
    refreshing: bool,
    /// More messages than [`MAX_IDS`]: looked up in PostgreSQL.
    heavy: bool,
    used: Instant,
}

/// What the filters say about a message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Certainly never posted: the send needs no lookup.
    New,
    /// Perhaps posted, or no trustworthy filter: look it up.
    Unknown,
}

impl SentIds {
    pub fn new(
        bus: Bus,
        pool: PgPool,
        history: ProjectionWatch,
        window: Duration,
        read_wait: Duration,
    ) -> Self {
        Self(Arc::new(Inner {
            bus,
            pool,
            history,
            window: Mutex::new(window),
            read_wait,
            users: Mutex::new(HashMap::new()),
        }))
    }

    /// Whether `user` certainly never posted `message`; starts a refresh when one is due.
    pub fn check(&self, user: Uuid, message: Uuid) -> Sent {
        let window = *self.0.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.is_zero() {
            return Sent::Unknown;
        }
        let now = Instant::now();
        let (answer, refresh) = {
            let mut users = self.0.users.lock().unwrap_or_else(|e| e.into_inner());
            let known = users.entry(user).or_insert_with(|| Known {
                ids: None,
                through: 0,
                refreshed: None,
                window: Duration::ZERO,
                refreshing: false,
                heavy: false,
                used: now,
            });
            known.used = now;
            let age = known.refreshed.map(|at| now.duration_since(at));
            // Messages appended after the refresh began are deduplicated by JetStream for the
            // window they were appended under: the shorter of then and now.
            let held = known.window.min(window);
            let trusted = held.saturating_sub(natter_bus::dedupe_margin(held));
            let answer = match (&known.ids, age) {
                (Some(ids), Some(age)) if age < trusted && !ids.may_contain(message) => Sent::New,
                _ => Sent::Unknown,
            };
            let every = if known.heavy { IDLE } else { window / 4 };
            let due = age.is_none_or(|age| age >= every);
            let refresh = due && !known.refreshing;
            if refresh {
                known.refreshing = true;
            }
            (answer, refresh)
        };
        if refresh {
            let this = self.clone();
            tokio::spawn(async move { this.refresh(user).await });
        }
        answer
    }

    async fn refresh(&self, user: Uuid) {
        let started = Instant::now();
        let through = self.with(user, |k| k.through).unwrap_or(0);
        let result = self.read(user, through).await;
        let mut users = self.0.users.lock().unwrap_or_else(|e| e.into_inner());
        let Some(known) = users.get_mut(&user) else {
            return;
        };
        known.refreshing = false;
        match result {
            Ok((head, window, rows)) => {
                known.window = window;
                if through == 0 && rows.len() > MAX_IDS {
                    // Not worth the memory: this user's sends are looked up.
                    known.ids = None;
                    known.heavy = true;
                    known.refreshed = Some(started);
                    return;
                }
                known.heavy = false;
                let ids = known
                    .ids
                    .get_or_insert_with(|| Bloom::with_capacity(rows.len() * 2 + 64));
                for (id, _) in &rows {
                    ids.insert(*id);
                }
                let newest = rows.iter().map(|(_, seq)| *seq).max().unwrap_or(0);
                known.through = head.max(newest);
                known.refreshed = Some(started);
                if ids.is_full() {
                    // Too many ids for its size: the next refresh reads them all again.
                    known.ids = None;
                    known.through = 0;
                    known.refreshed = None;
                }
            }
            Err(e) => tracing::debug!(%user, error = %e, "cannot refresh a sender's message ids"),
        }
        users.retain(|_, k| k.refreshing || started.duration_since(k.used) < IDLE);
    }

    /// The log's head once the history read model has it, and the user's messages past
    /// `through` (all of them when `through` is 0, up to one more than [`MAX_IDS`]).
    async fn read(
        &self,
        user: Uuid,
        through: u64,
    ) -> Result<(u64, Duration, Vec<(Uuid, u64)>), RefreshError> {
        let (head, window) = self.0.bus.head_and_window().await?;
        *self.0.window.lock().unwrap_or_else(|e| e.into_inner()) = window;
        if !self.0.history.wait_for(head, self.0.read_wait).await {
            return Err(RefreshError::Behind(head));
        }
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT id, seq FROM messages WHERE sender_id = $1 AND seq > $2 LIMIT $3",
        )
        .bind(user)
        .bind(i64::try_from(through).unwrap_or(i64::MAX))
        .bind(if through == 0 {
            MAX_IDS as i64 + 1
        } else {
            i64::MAX
        })
        .fetch_all(&self.0.pool)
        .await?;
        let rows = rows
            .into_iter()
            .map(|(id, seq)| (id, u64::try_from(seq).unwrap_or(0)))
            .collect();
        Ok((head, window, rows))
    }

    fn with<T>(&self, user: Uuid, f: impl FnOnce(&Known) -> T) -> Option<T> {
        let users = self.0.users.lock().unwrap_or_else(|e| e.into_inner());
        users.get(&user).map(f)
    }
}

/// Why a sender's ids could not be refreshed (its sends are then looked up).
#[derive(Debug, thiserror::Error)]
enum RefreshError {
    #[error(transparent)]
    Log(#[from] natter_bus::BusError),
    #[error("history has not reached {0} yet")]
    Behind(u64),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}
