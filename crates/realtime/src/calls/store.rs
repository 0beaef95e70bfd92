//! Calls in progress, in Redis (they may be lost: a call whose record is gone ends without a
//! summary). One hash per call, `call:<id>`: `room`, `caller`, `invited_at`, `answered_at`
//! (the first accept), `p:<user>` (each participant's accept), `left:<user>` (each hang-up)
//! and `ended_at`, times in ms on Redis's clock. A call is over when at most one of the people
//! in it is left; its record stays until its summary is in the log (so that a failed append is
//! retried by the next hang-up), and a call nobody ends expires after a day.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::lua::{self, StoreError};
use uuid::Uuid;

/// How long a call's record lives without a hang-up.
const CALL_TTL: Duration = Duration::from_secs(86_400);

/// ARGV: room, caller, ttl_ms. 1: a new call; 0: the caller rings again; -1: the call is in
/// another room; -2: someone else's call.
const INVITE: &str = "
local room = redis.call('HGET', KEYS[1], 'room')
if room then
  if room ~= ARGV[1] then return -1 end
  if redis.call('HGET', KEYS[1], 'caller') ~= ARGV[2] then return -2 end
  return 0
end
redis.call('HSET', KEYS[1], 'room', ARGV[1], 'caller', ARGV[2], 'invited_at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1";

/// ARGV: room, user. 1: accepted; 0: no such call; -1: in another room.
const ACCEPT: &str = "
local room = redis.call('HGET', KEYS[1], 'room')
if not room then return 0 end
if room ~= ARGV[1] then return -1 end
redis.call('HSETNX', KEYS[1], 'answered_at', now)
redis.call('HSETNX', KEYS[1], 'p:' .. ARGV[2], now)
return 1";

/// ARGV: user. The user leaves the call; when at most one person is left in it, it is over
/// (`ended_at` set once). Returns the record when the call is over, else nothing.
const LEAVE: &str = "
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('HSETNX', KEYS[1], 'left:' .. ARGV[1], now)
local all = redis.call('HGETALL', KEYS[1])
local left = {}
local people = {}
for i = 1, #all, 2 do
  local k = all[i]
  if string.sub(k, 1, 5) == 'left:' then left[string.sub(k, 6)] = true end
  if string.sub(k, 1, 2) == 'p:' then people[string.sub(k, 3)] = true end
  if k == 'caller' then people[all[i + 1]] = true end
end
local remaining = 0
for user, _ in pairs(people) do
  if not left[user] then remaining = remaining + 1 end
end
if remaining > 1 then return {} end
if redis.call('HSETNX', KEYS[1], 'ended_at', now) == 1 then
  table.insert(all, 'ended_at')
  table.insert(all, tostring(now))
end
return all";

/// A call's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub room: Uuid,
    pub caller: Uuid,
    pub invited_at: i64,
    pub answered_at: Option<i64>,
    /// Who accepted, in the order they did.
    pub participants: Vec<Uuid>,
    /// Who hung up.
    pub left: Vec<Uuid>,
}

impl Call {
    /// Whether `user` is in the call (its caller, or one who accepted) and has not hung up.
    pub fn includes(&self, user: Uuid) -> bool {
        (self.caller == user || self.participants.contains(&user)) && !self.left.contains(&user)
    }

    fn from_fields(fields: &HashMap<String, String>) -> Option<Self> {
        let uuid = |k: &str| fields.get(k).and_then(|v| v.parse::<Uuid>().ok());
        let ms = |k: &str| fields.get(k).and_then(|v| v.parse::<i64>().ok());
        let mut accepted: Vec<(i64, Uuid)> = fields
            .iter()
            .filter_map(|(k, v)| Some((v.parse().ok()?, k.strip_prefix("p:")?.parse().ok()?)))
            .collect();
        accepted.sort_unstable();
        let left = fields
            .keys()
            .filter_map(|k| k.strip_prefix("left:")?.parse().ok())
            .collect();
        Some(Self {
            room: uuid("room")?,
            caller: uuid("caller")?,
            invited_at: ms("invited_at")?,
            answered_at: ms("answered_at"),
            participants: accepted.into_iter().map(|(_, u)| u).collect(),
            left,
        })
    }
}

/// Outcome of a change to a call in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched {
    New,
    Existing,
    Missing,
    OtherRoom,
    /// Someone else's call (only its caller rings again).
    NotYours,
}

#[derive(Clone)]
pub struct CallStore {
    redis: ConnectionManager,
    prefix: String,
}

impl CallStore {
    pub fn new(redis: ConnectionManager, prefix: String) -> Self {
        Self { redis, prefix }
    }

    fn key(&self, call: Uuid) -> String {
        format!("{}call:{call}", self.prefix)
    }

    async fn eval<T: redis::FromRedisValue>(
        &self,
        body: &str,
        call: Uuid,
        args: &[String],
    ) -> Result<T, StoreError> {
        lua::eval(&self.redis, body, &[self.key(call)], args).await
    }

    /// Starts `call` in `room` (or finds it there).
    pub async fn invite(
        &self,
        call: Uuid,
        room: Uuid,
        caller: Uuid,
    ) -> Result<Touched, StoreError> {
        let ttl = CALL_TTL.as_millis().to_string();
        let n: i64 = self
            .eval(INVITE, call, &[room.to_string(), caller.to_string(), ttl])
            .await?;
        Ok(match n {
            1 => Touched::New,
            0 => Touched::Existing,
            -2 => Touched::NotYours,
            _ => Touched::OtherRoom,
        })
    }

    /// `user` joins `call`.
    pub async fn accept(&self, call: Uuid, room: Uuid, user: Uuid) -> Result<Touched, StoreError> {
        let n: i64 = self
            .eval(ACCEPT, call, &[room.to_string(), user.to_string()])
            .await?;
        Ok(match n {
            1 => Touched::Existing,
            0 => Touched::Missing,
            _ => Touched::OtherRoom,
        })
    }

    /// The call's record, if it is in progress.
    pub async fn get(&self, call: Uuid) -> Result<Option<Call>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.key(call));
        let fields: HashMap<String, String> = lua::query(&self.redis, cmd).await?;
        Ok(Call::from_fields(&fields))
    }

    /// `user` hangs up: the call's record and when it ended (ms) once the call is over (for
    /// every hang-up from then on, until [`CallStore::forget`]).
    pub async fn leave(&self, call: Uuid, user: Uuid) -> Result<Option<(Call, i64)>, StoreError> {
        let flat: Vec<String> = self.eval(LEAVE, call, &[user.to_string()]).await?;
        let fields: HashMap<String, String> = flat
            .chunks_exact(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect();
        let ended = fields.get("ended_at").and_then(|v| v.parse().ok());
        Ok(Call::from_fields(&fields).zip(ended))
    }

    /// Drops an ended call's record (its summary is in the log).
    pub async fn forget(&self, call: Uuid) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(call));
        lua::query::<i64>(&self.redis, cmd).await?;
        Ok(())
    }
}
