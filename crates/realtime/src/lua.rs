//! Redis for what may be lost (presence, calls in progress): Lua scripts run atomically on
//! Redis's clock, and every request bounded in time, so that a slow Redis holds nothing up.

use std::time::Duration;

use redis::aio::ConnectionManager;

/// Longest wait for Redis.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// The prelude of every script: `now`, in ms on Redis's clock.
const NOW: &str = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)";

/// Redis failed or did not answer in time. What it holds may be lost: answered as
/// `unavailable`, its cause logged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[source] redis::RedisError),
    #[error("redis: no answer within {REDIS_TIMEOUT:?}")]
    NoAnswer,
}

/// A script's body with the `now` prelude.
pub fn script(body: &str) -> String {
    format!("{NOW}\n{body}")
}

/// Runs `cmd`, within [`REDIS_TIMEOUT`].
pub async fn query<T: redis::FromRedisValue>(
    redis: &ConnectionManager,
    cmd: redis::Cmd,
) -> Result<T, StoreError> {
    let mut redis = redis.clone();
    bounded(cmd.query_async::<T>(&mut redis)).await
}

/// Runs a pipeline in one round trip, within [`REDIS_TIMEOUT`].
pub async fn query_pipe<T: redis::FromRedisValue>(
    redis: &ConnectionManager,
    pipe: &redis::Pipeline,
) -> Result<T, StoreError> {
    let mut redis = redis.clone();
    bounded(pipe.query_async::<T>(&mut redis)).await
}

/// A request's answer, within [`REDIS_TIMEOUT`].
async fn bounded<T>(
    request: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(REDIS_TIMEOUT, request)
        .await
        .map_err(|_| StoreError::NoAnswer)?
        .map_err(StoreError::Redis)
}

/// Runs the script `body` (with the `now` prelude) on `keys` and `args`.
pub async fn eval<T: redis::FromRedisValue>(
    redis: &ConnectionManager,
    body: &str,
    keys: &[String],
    args: &[String],
) -> Result<T, StoreError> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script(body)).arg(keys.len()).arg(keys).arg(args);
    query(redis, cmd).await
}
