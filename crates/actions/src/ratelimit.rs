//! Cluster-wide rate limits: GCRA (the generic cell rate algorithm) in Redis, one key per
//! (action, subject), shared by every gateway. Redis keeps only the "theoretical arrival time"
//! of each key, with a TTL, so losing Redis loses nothing that matters.
//!
//! When Redis does not answer (down, or slower than [`REDIS_TIMEOUT`]), each gateway falls
//! back to the same algorithm in its own memory: limits then hold per gateway instead of per
//! cluster, which is said in the log (once per outage) and in the metrics
//! (`natter_rate_limit_local_total`, `natter_rate_limit_redis_up`).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// Longest wait for Redis before the local limiter decides.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// What is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Messages sent, per user.
    Message,
    /// Reactions added or removed, per user.
    Reaction,
    /// Typing signals (`start` and `stop` frames), per user.
    Typing,
    /// Rooms and direct conversations created, per user.
    RoomCreate,
    /// Logins and registrations, per client IP.
    AuthIp,
    /// Logins, per username.
    AuthUser,
    /// Events replayed to resuming subscriptions (`subscribe` with `since`), per user.
    Replay,
    /// Files uploaded, per user.
    Upload,
    /// Call signalling frames, per user.
    Call,
    /// GIF searches, per user.
    Gif,
}

impl Action {
    fn key(self) -> &'static str {
        match self {
            Self::Message => "msg",
            Self::Reaction => "react",
            Self::Typing => "typing",
            Self::RoomCreate => "room",
            Self::AuthIp => "auth_ip",
            Self::AuthUser => "auth_user",
            Self::Replay => "replay",
            Self::Upload => "upload",
            Self::Call => "call",
            Self::Gif => "gif",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Message => "messages",
            Self::Reaction => "reactions",
            Self::Typing => "typing signals",
            Self::RoomCreate => "new rooms",
            Self::AuthIp => "sign-in attempts from this address",
            Self::AuthUser => "sign-in attempts for this user",
            Self::Replay => "replayed events",
            Self::Upload => "uploads",
            Self::Call => "call signals",
            Self::Gif => "GIF searches",
        }
    }
}

/// `count` per `period`, with bursts of up to `count`; or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    /// Time between two requests at the sustained rate, in ms.
    fn interval_ms(self) -> f64 {
        self.period.as_secs_f64() * 1000.0 / f64::from(self.count.max(1))
    }
    /// How far ahead of its schedule a key may be (the burst), in ms.
    fn tolerance_ms(self) -> f64 {
        self.period.as_secs_f64() * 1000.0 - self.interval_ms()
    }
}

/// A limit as written in config: `20/10s`, `5/1m`, `100/1h`, `3/500ms`, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<Rate>);

impl FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        let bad =
            || format!("{s:?} is not a rate: write COUNT/PERIOD (20/10s, 5/1m, 100/1h) or off");
        let (count, period) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let (number, unit) = period.split_at(
            period
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(period.len()),
        );
        let n: u64 = if number.is_empty() {
            1
        } else {
            number.parse().map_err(|_| bad())?
        };
        let period = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
        if count == 0 || period.is_zero() {
            return Err(bad());
        }
        Ok(Self(Some(Rate { count, period })))
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("off"),
            Some(r) => write!(f, "{}/{}ms", r.count, r.period.as_millis()),
        }
    }
}

/// The limits, from config.
#[derive(Debug, Clone, clap::Args)]
pub struct RateLimits {
    /// Messages per user (sustained rate and burst), e.g. `20/10s`; `off` for none.
    #[arg(long, env = "NATTER_RATE_MESSAGES", default_value = "30/10s")]
    pub rate_messages: Limit,
    /// Reactions added or removed per user.
    #[arg(long, env = "NATTER_RATE_REACTIONS", default_value = "60/10s")]
    pub rate_reactions: Limit,
    /// Typing frames per user (on top of the 3 s throttle of what is passed on).
    #[arg(long, env = "NATTER_RATE_TYPING", default_value = "30/10s")]
    pub rate_typing: Limit,
    /// Rooms and direct conversations created per user.
    #[arg(long, env = "NATTER_RATE_ROOMS", default_value = "30/1h")]
    pub rate_rooms: Limit,
    /// Logins and registrations per client IP.
    #[arg(long, env = "NATTER_RATE_AUTH_IP", default_value = "30/1m")]
    pub rate_auth_ip: Limit,
    /// Logins per username.
    #[arg(long, env = "NATTER_RATE_AUTH_USER", default_value = "10/1m")]
    pub rate_auth_user: Limit,
    /// Events replayed to one user's resuming subscriptions: the burst lets every socket of a
    /// user resume at once after an outage, the rate keeps resubscribing in a loop cheap.
    #[arg(long, env = "NATTER_RATE_REPLAY", default_value = "50000/1m")]
    pub rate_replay: Limit,
    /// Files uploaded per user.
    #[arg(long, env = "NATTER_RATE_UPLOADS", default_value = "30/1m")]
    pub rate_uploads: Limit,
    /// Call signalling frames per user (a call's set-up sends a few dozen ICE candidates).
    #[arg(long, env = "NATTER_RATE_CALLS", default_value = "120/10s")]
    pub rate_calls: Limit,
    /// GIF searches per user (each is a request to the provider, on natter's key).
    #[arg(long, env = "NATTER_RATE_GIFS", default_value = "30/1m")]
    pub rate_gifs: Limit,
}

impl Default for RateLimits {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

impl RateLimits {
    /// No limits at all (for tests and benchmarks that measure something else).
    pub fn off() -> Self {
        Self {
            rate_messages: Limit(None),
            rate_reactions: Limit(None),
            rate_typing: Limit(None),
            rate_rooms: Limit(None),
            rate_auth_ip: Limit(None),
            rate_auth_user: Limit(None),
            rate_replay: Limit(None),
            rate_uploads: Limit(None),
            rate_calls: Limit(None),
            rate_gifs: Limit(None),
        }
    }

    fn rate(&self, action: Action) -> Option<Rate> {
        match action {
            Action::Message => self.rate_messages.0,
            Action::Reaction => self.rate_reactions.0,
            Action::Typing => self.rate_typing.0,
            Action::RoomCreate => self.rate_rooms.0,
            Action::AuthIp => self.rate_auth_ip.0,
            Action::AuthUser => self.rate_auth_user.0,
            Action::Replay => self.rate_replay.0,
            Action::Upload => self.rate_uploads.0,
            Action::Call => self.rate_calls.0,
            Action::Gif => self.rate_gifs.0,
        }
    }
}

/// GCRA on one key, atomically, in Redis time (so that gateways with skewed clocks agree).
/// ARGV: interval, tolerance, cost (how many requests this one counts as). Returns 0 when
/// allowed, else the ms until the next request would be.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - tolerance > now then
  return math.ceil(tat - tolerance - now)
end
local next_tat = tat + interval * cost
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil(next_tat - now) + 1000)
return 0
";

/// The limiter: Redis first, this process's memory when Redis does not answer.
pub struct Limiter {
    limits: RateLimits,
    redis: redis::aio::ConnectionManager,
    prefix: String,
    local: Mutex<HashMap<(Action, String), f64>>,
    started: Instant,
    redis_up: AtomicBool,
}

impl Limiter {
    pub fn new(limits: RateLimits, redis: redis::aio::ConnectionManager, prefix: String) -> Self {
        metrics::gauge!("natter_rate_limit_redis_up").set(1.0);
        Self {
            limits,
            redis,
            prefix,
            local: Mutex::new(HashMap::new()),
            started: Instant::now(),
            redis_up: AtomicBool::new(true),
        }
    }

    /// Counts one `action` by `subject` (a user id, an IP, a username); `rate_limited` with
    /// `retry_after_ms` when over the limit.
    pub async fn check(&self, action: Action, subject: &str) -> Result<(), ApiError> {
        self.check_cost(action, subject, 1).await
    }

    /// Counts `cost` of `action` by `subject` at once (the events a replay is about to send):
    /// allowed while the subject is within its limit, even when `cost` takes it past it
    /// (later requests then wait for that).
    pub async fn check_cost(
        &self,
        action: Action,
        subject: &str,
        cost: u64,
    ) -> Result<(), ApiError> {
        let Some(rate) = self.limits.rate(action) else {
            return Ok(());
        };
        let wait_ms = match self.redis_check(action, subject, rate, cost).await {
            Some(wait) => wait,
            None => self.local_check(action, subject, rate, cost),
        };
        if wait_ms == 0 {
            return Ok(());
        }
        metrics::counter!("natter_rate_limited_total", "action" => action.key()).increment(1);
        Err(ApiError::rate_limited(
            format!("too many {}: retry in {wait_ms} ms", action.what()),
            wait_ms,
        ))
    }

    async fn redis_check(
        &self,
        action: Action,
        subject: &str,
        rate: Rate,
        cost: u64,
    ) -> Option<u64> {
        let key = format!("{}rl:{}:{subject}", self.prefix, action.key());
        let mut redis = self.redis.clone();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(GCRA)
            .arg(1)
            .arg(&key)
            .arg(rate.interval_ms())
            .arg(rate.tolerance_ms())
            .arg(cost);
        let call = cmd.query_async::<i64>(&mut redis);
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok(wait)) => {
                if !self.redis_up.swap(true, Ordering::Relaxed) {
                    tracing::warn!("Redis answers again: rate limits are cluster-wide again");
                    metrics::gauge!("natter_rate_limit_redis_up").set(1.0);
                }
                Some(u64::try_from(wait).unwrap_or(0))
            }
            failed => {
                if self.redis_up.swap(false, Ordering::Relaxed) {
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {} ms", REDIS_TIMEOUT.as_millis()),
                    };
                    tracing::warn!(%error, "Redis is unavailable: rate limits now hold per gateway, in memory");
                    metrics::gauge!("natter_rate_limit_redis_up").set(0.0);
                }
                metrics::counter!("natter_rate_limit_local_total").increment(1);
                None
            }
        }
    }

    fn local_check(&self, action: Action, subject: &str, rate: Rate, cost: u64) -> u64 {
        let now = self.started.elapsed().as_secs_f64() * 1000.0;
        let mut local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if local.len() > 100_000 {
            // Keys whose schedule is in the past carry nothing: drop them.
            local.retain(|_, tat| *tat > now);
        }
        let tat = local.entry((action, subject.to_owned())).or_insert(now);
        let scheduled = tat.max(now);
        if scheduled - rate.tolerance_ms() > now {
            return (scheduled - rate.tolerance_ms() - now).ceil() as u64;
        }
        *tat = scheduled + rate.interval_ms() * cost as f64;
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_from_config() {
        let l: Limit = "20/10s".parse().expect("rate");
        assert_eq!(
            l.0,
            Some(Rate {
                count: 20,
                period: Duration::from_secs(10)
            })
        );
        assert_eq!(
            "5/m"
                .parse::<Limit>()
                .ok()
                .and_then(|l| l.0)
                .map(|r| r.period),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            "3/500ms"
                .parse::<Limit>()
                .ok()
                .and_then(|l| l.0)
                .map(|r| r.period),
            Some(Duration::from_millis(500))
        );
        assert_eq!("off".parse::<Limit>().ok(), Some(Limit(None)));
        for bad in ["", "20", "0/1s", "20/0s", "x/1s", "20/10d"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
    }
}
