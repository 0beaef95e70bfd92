//! When each session was last used: kept in Redis (it may be lost), written at most once a
//! minute per session by each gateway, without holding up the request.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use uuid::Uuid;

use natter_realtime::lua::{StoreError, query};

/// How coarse "last seen" is, in seconds.
const GRAIN: u64 = 60;

/// Most sessions remembered as written this minute; past it the memory starts over.
const MAX_REMEMBERED: usize = 200_000;

/// How long a user's record outlives their last use of any session.
const KEEP_SECS: u64 = 90 * 24 * 3600;

pub struct Seen {
    redis: ConnectionManager,
    prefix: String,
    /// The minute each session was last written in.
    written: Mutex<HashMap<Uuid, u64>>,
}

impl Seen {
    pub fn new(redis: ConnectionManager, prefix: String) -> Self {
        Self {
            redis,
            prefix,
            written: Mutex::default(),
        }
    }

    fn key(&self, user: Uuid) -> String {
        format!("{}seen:{user}", self.prefix)
    }

    /// Records a use of `user`'s `session` now (in the background; a failure is logged).
    pub fn touch(&self, user: Uuid, session: Uuid) {
        let now = super::now_secs();
        let minute = now / GRAIN;
        {
            let Ok(mut written) = self.written.lock() else {
                return;
            };
            if written.get(&session) == Some(&minute) {
                return;
            }
            if written.len() >= MAX_REMEMBERED {
                written.clear();
            }
            written.insert(session, minute);
        }
        let mut pipe = redis::pipe();
        let key = self.key(user);
        pipe.hset(&key, session.to_string(), minute * GRAIN)
            .ignore()
            .expire(&key, KEEP_SECS as i64)
            .ignore();
        let redis = self.redis.clone();
        tokio::spawn(async move {
            if let Err(e) = natter_realtime::lua::query_pipe::<()>(&redis, &pipe).await {
                tracing::debug!(error = %e, "cannot record when a session was seen");
            }
        });
    }

    /// When each of `user`'s sessions was last used, as far as Redis remembers.
    pub async fn of(&self, user: Uuid) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.key(user));
        let all: HashMap<String, i64> = query(&self.redis, cmd).await?;
        Ok(all
            .into_iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, DateTime::from_timestamp(v, 0)?)))
            .collect())
    }

    /// Forgets `sessions` of `user` (they ended).
    pub async fn forget(&self, user: Uuid, sessions: &[Uuid]) {
        if sessions.is_empty() {
            return;
        }
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(self.key(user));
        for s in sessions {
            cmd.arg(s.to_string());
        }
        if let Err(e) = query::<()>(&self.redis, cmd).await {
            tracing::debug!(error = %e, "cannot forget ended sessions' last use");
        }
    }
}
