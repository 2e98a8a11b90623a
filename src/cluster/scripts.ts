// The Lua scripts that make each cluster step atomic in Redis. One script
// sequences and publishes each message (centrifuge's broker does the same; here
// one call carries a node's whole event-loop turn), so every node receives one
// room's messages in one order, each with its seq.
// Per-room names are built inside some scripts from the prefix (names.ts layout):
// fine on a single Redis or a replica set, not on Redis Cluster (documented).

/** A room's history list is trimmed back to the size once it is this many past it (or an eighth of the size, if more). */
const HISTORY_SLACK_MIN = 8;

/** Write commands after TIME need effects replication (default since Redis 5, always since 7). */
const EFFECTS = 'if redis.replicate_commands then pcall(redis.replicate_commands) end\n';
const NOW = "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/**
 * Makes sure a room has an epoch. A room whose epoch or seq key is missing
 * (new, expired, or Redis lost them) starts a new epoch at seq 0 with an empty
 * history, so one (epoch, seq) never names two messages. A Lua function shared
 * by the two scripts below: returns the epoch, and 1 if the candidate became it.
 */
const ENSURE_EPOCH = `
local function ensure_epoch(seq_key, epoch_key, history_key, candidate)
  local epoch = redis.call('GET', epoch_key)
  if epoch and redis.call('EXISTS', seq_key) == 1 then return epoch, 0 end
  redis.call('SET', epoch_key, candidate)
  redis.call('SET', seq_key, 0)
  redis.call('DEL', history_key)
  return candidate, 1
end
`;

/**
 * No KEYS. ARGV: epoch candidate, ttl seconds, history size, history ttl ms,
 * prefix, then the messages packed into one string: per message the room's
 * 22-character hash, the body's length (u32 big-endian) and the body. One call
 * for all the messages a node relayed in one event-loop turn, in their order
 * (any rooms, a room more than once): each gets its room's next seq, is kept in
 * the room's history list (the same bytes that are published: its epoch and
 * seq travel with it) and is published. The per-room names are built here
 * (names.ts layout) because one packed argument costs the node far less to
 * encode than five per message.
 *
 * Redis's cost is per command, so what holds for a whole call is done once per
 * room per call: the epoch check and the expiries (all at one instant anyway).
 * The list is trimmed once it is HISTORY_SLACK past the size rather than on
 * every push (JOIN_VIEW reads only the latest `size`). A room's second and later
 * messages in a call cost INCR, RPUSH and PUBLISH.
 * Returns how many rooms the candidate became the epoch of.
 */
export const PUBLISH_MESSAGES = `${ENSURE_EPOCH}
local ttl, size, history_ttl, prefix, packed = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local slack = math.max(${HISTORY_SLACK_MIN}, math.floor(size / 8))
local fresh, at = 0, 1
local epochs = {}
while at <= #packed do
  local h = string.sub(packed, at, at + 21)
  local length = struct.unpack('>I4', packed, at + 22)
  local body = string.sub(packed, at + 26, at + 25 + length)
  at = at + 26 + length
  local seq_key, epoch_key, history_key = prefix .. ':s:' .. h, prefix .. ':e:' .. h, prefix .. ':h:' .. h
  local epoch = epochs[h]
  local first = not epoch
  if first then
    local made
    epoch, made = ensure_epoch(seq_key, epoch_key, history_key, ARGV[1])
    fresh = fresh + made
    epochs[h] = epoch
    redis.call('EXPIRE', seq_key, ttl)
    redis.call('EXPIRE', epoch_key, ttl)
  end
  local seq = redis.call('INCR', seq_key)
  local event = 'm:' .. string.format('%d', seq) .. ':' .. epoch .. ':' .. body
  if size > 0 then
    if redis.call('RPUSH', history_key, event) > size + slack then redis.call('LTRIM', history_key, -size, -1) end
    if first then redis.call('PEXPIRE', history_key, history_ttl) end
  end
  redis.call('PUBLISH', prefix .. ':m:' .. h, event)
end
return fresh
`;

/**
 * KEYS: seq, epoch, history list. ARGV: channel, epoch candidate, marker, ttl
 * seconds, history size, then what the join asks replayed: history=N (0 for
 * none), a resume's since (-1 for none) and epoch. A joining member's view: the
 * room's epoch, latest seq and as many of its latest kept messages as the join
 * can use (the latest N, or every one after `since` when the resume can succeed;
 * at most `size`, though the list may run HISTORY_SLACK over), read at one
 * instant; then a marker on the room's channel, so the node knows which live
 * messages came before the view and which after. A plain join reads none: a
 * reconnect storm into a busy room must not pull its whole history per member.
 * Returns {epoch, seq, fresh, entries}.
 */
export const JOIN_VIEW = `${ENSURE_EPOCH}
local epoch, fresh = ensure_epoch(KEYS[1], KEYS[2], KEYS[3], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
local seq = tonumber(redis.call('GET', KEYS[1]))
local size = tonumber(ARGV[5])
local want, since = tonumber(ARGV[6]), tonumber(ARGV[7])
if since >= 0 and ARGV[8] == epoch and seq > since and seq - since <= size then want = math.max(want, seq - since) end
want = math.min(want, size)
local entries = {}
if want > 0 then entries = redis.call('LRANGE', KEYS[3], -want, -1) end
redis.call('PUBLISH', ARGV[1], 'j:' .. ARGV[3])
return { epoch, seq, fresh, entries }
`;

/**
 * KEYS: the room's access state. ARGV: channel, event, state ('' leaves it), ttl
 * seconds. An owner command for every node: the state (what a node must admit
 * by, or that the room was closed) is written before the event goes out, so a
 * join anywhere that reads it after the owner heard back sees the change.
 */
export const CONTROL = `
if ARGV[3] ~= '' then redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4]) end
redis.call('PUBLISH', ARGV[1], 'c:' .. ARGV[2])
return 1
`;

/** KEYS: seq, epoch, history list: a closed or purged room's history ends (a room made again starts a new epoch). */
export const DROP_HISTORY = `
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
`;

/**
 * KEYS: presence hash, presence version, the node's room set.
 * ARGV: field (node id + name), delta (+1 / -1), channel, node id, name, room hash, version ttl seconds.
 * Returns the new version, or 0 when a leave found nothing to take away (Redis was wiped meanwhile).
 */
export const PRESENCE_CHANGE = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
if n < 0 then return 0 end
if tonumber(ARGV[2]) > 0 then redis.call('SADD', KEYS[3], ARGV[6]) end
local v = redis.call('INCR', KEYS[2])
-- The version outlives a quiet room for a while, then goes; a node that sees it start again re-reads.
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('PUBLISH', ARGV[3], 'p:' .. string.format('%d', v) .. ':' .. ARGV[4] .. ':' .. ARGV[2] .. ':' .. ARGV[5])
return v
`;

/**
 * KEYS: presence hash, presence version, the node's room set.
 * ARGV: node id, channel, room hash, then name, count pairs: this node's members now.
 * Replaces the node's entries (after a reconnect, or Redis came back empty) and
 * tells the others to read the room again.
 */
export const PRESENCE_SYNC = `
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 16) == ARGV[1] then redis.call('HDEL', KEYS[1], f) end
end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[1] .. ARGV[i], ARGV[i + 1]) end
if #ARGV >= 4 then redis.call('SADD', KEYS[3], ARGV[3]) end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], 's:' .. string.format('%d', v) .. ':' .. ARGV[1])
return v
`;

/** KEYS: presence hash, presence version. Returns {version, HGETALL} read at one instant. */
export const PRESENCE_SNAPSHOT = `
return { tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('HGETALL', KEYS[1]) }
`;

/**
 * KEYS: nodes. ARGV: node id, ttl ms. Pushes this node's deadline (Redis clock,
 * so nodes' clocks need not agree). Returns {1 if the node was still registered,
 * live nodes}: 0 means it was reaped or Redis lost it, and the node must rebuild.
 */
export const HEARTBEAT = `${EFFECTS}${NOW}
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local known_flag = 0
if known then known_flag = 1 end
return { known_flag, redis.call('ZCOUNT', KEYS[1], now, '+inf') }
`;

/**
 * KEYS: nodes. ARGV: prefix, and optionally one node id (a goodbye: reap that
 * node now). Otherwise every node whose deadline passed. Each is removed and
 * each of its members is published as left, in this one script: whichever node
 * runs it first reaps, the others then find nothing. Returns how many nodes.
 */
export const REAP = `${EFFECTS}${NOW}
local dead
if ARGV[2] then dead = { ARGV[2] } else dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 20) end
for _, node in ipairs(dead) do
  redis.call('ZREM', KEYS[1], node)
  local rooms = ARGV[1] .. ':n:' .. node
  for _, h in ipairs(redis.call('SMEMBERS', rooms)) do
    local pkey = ARGV[1] .. ':p:' .. h
    local fields = redis.call('HGETALL', pkey)
    for i = 1, #fields, 2 do
      local f = fields[i]
      if string.sub(f, 1, 16) == node then
        redis.call('HDEL', pkey, f)
        local v = redis.call('INCR', ARGV[1] .. ':v:' .. h)
        redis.call('PUBLISH', ARGV[1] .. ':m:' .. h, 'p:' .. string.format('%d', v) .. ':' .. node .. ':-' .. fields[i + 1] .. ':' .. string.sub(f, 17))
      end
    end
  end
  redis.call('DEL', rooms)
end
return #dead
`;

/** KEYS: presence hashes. Returns the member count of each (all nodes). */
export const COUNT_MEMBERS = `
local out = {}
for i, key in ipairs(KEYS) do
  local total = 0
  for _, c in ipairs(redis.call('HVALS', key)) do total = total + tonumber(c) end
  out[i] = total
end
return out
`;
