//! The presence store's Lua scripts, each run atomically in Redis (on Redis's clock).

//! Each runs with `now` (ms) defined: see `crate::lua::script`.
//!
//! Keys of one user: `pres:<user>` (hash: status, text, last_seen in ms) and `conns:<user>`
//! (sorted set of sockets by expiry, ms). `pres:live` holds every user with sockets, by their
//! latest expiry, for the sweep.

/// KEYS: conns, live. ARGV: user, session, ttl_ms. Returns 1 when the user came online.
pub(super) const CONNECT: &str = "
local before = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local expiry = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], expiry, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3] * 2)
redis.call('ZADD', KEYS[2], 'GT', expiry, ARGV[1])
if before == 0 then return 1 end
return 0";

/// KEYS: conns, pres, live. ARGV: session, user. Returns 1 when the user went offline (and
/// takes them off the sweep's list: nothing of theirs is left to expire).
pub(super) const DISCONNECT: &str = "
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[2], 'last_seen', now)
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 1
end
return 0";

/// KEYS: live. ARGV: key prefix. Returns the users who went offline (their sockets expired).
/// A user whose sockets all closed cleanly has no expired socket: they went offline then, and
/// their `last_seen` stays.
pub(super) const SWEEP: &str = "
local gone = {}
for _, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)) do
  local conns = ARGV[1] .. 'conns:' .. user
  local last = redis.call('ZRANGE', conns, -1, -1, 'WITHSCORES')
  redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
  redis.call('ZREM', KEYS[1], user)
  if last[2] and redis.call('ZCARD', conns) == 0 then
    local seen = now
    if last[2] then seen = tonumber(last[2]) end
    redis.call('HSET', ARGV[1] .. 'pres:' .. user, 'last_seen', seen)
    table.insert(gone, user)
  end
end
return gone";

/// KEYS: conns, live. ARGV: user, ttl_ms, sessions... Pushes the sockets' expiry forward.
pub(super) const HEARTBEAT: &str = "
local expiry = now + tonumber(ARGV[2])
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2] * 2)
redis.call('ZADD', KEYS[2], 'GT', expiry, ARGV[1])
return 0";

/// KEYS: conns, pres. Returns {live sockets, status, text, last_seen}.
pub(super) const READ: &str = "
local live = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local p = redis.call('HMGET', KEYS[2], 'status', 'text', 'last_seen')
return {live, p[1] or '', p[2] or '', p[3] or ''}";
