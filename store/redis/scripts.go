package redis

import (
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/store"
)

// prelude is shared by the scripts that compare times or end sessions.
//
// Times are 21-digit strings (see timeKey). They are compared as two numbers rather than with
// Lua's '<', which uses the server's collation locale; ids are compared byte by byte for the same
// reason, so that ties break as strings.Compare does in the other stores.
const prelude = `
local function earlier(a, b)
  local sa, sb = tonumber(string.sub(a, 1, 12)), tonumber(string.sub(b, 1, 12))
  if sa ~= sb then return sa < sb end
  return tonumber(string.sub(a, 13)) < tonumber(string.sub(b, 13))
end

local function byteless(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- finish ends the live session stored at key, a member of the live set, and gives the record
-- its tombstone TTL (field z). It returns true when the record had no TTL: the live set may
-- then have lost its last persistent member and must be refitted.
local function finish(key, live, id, reason, now)
  local persistent = redis.call('PTTL', key) == -1
  redis.call('HSET', key, 'e', now, 'r', reason)
  redis.call('PEXPIRE', key, redis.call('HGET', key, 'z'))
  redis.call('SREM', live, id)
  return persistent
end

-- refit makes the live set expire with the last of its members: it stays persistent while one
-- of them is, else it lives as long as the longest-lived. Members whose record has expired
-- are dropped.
local function refit(live, prefix)
  local longest = 0
  for _, id in ipairs(redis.call('SMEMBERS', live)) do
    local ttl = redis.call('PTTL', prefix .. id)
    if ttl == -1 then return end
    if ttl == -2 then
      redis.call('SREM', live, id)
    elseif ttl > longest then
      longest = ttl
    end
  end
  if longest > 0 then redis.call('PEXPIRE', live, longest) end
end

-- touched raises the live record rec's last activity to at, when later, from its fields f
-- (HMGET a, e, x, z, w). When the record has a TTL it extends it, and returns the TTL it gave,
-- only when at is past what the last extension covers (field w, in seconds of the time
-- format): an extension reaches a slack past the TTL (a sixteenth of it, at most an hour and
-- half the tombstone TTL, so that a pointer extended on every touch still outlives its record),
-- and touches within the slack need not extend again. It returns 0 when it extended nothing.
local function touched(rec, f, at)
  if not f[1] or f[2] or not earlier(f[1], at) then return 0 end
  local ttl = tonumber(f[3])
  local secs = tonumber(string.sub(at, 1, 12))
  if ttl <= 0 or secs <= (tonumber(f[5]) or -1) then
    redis.call('HSET', rec, 'a', at)
    return 0
  end
  local slack = math.floor(math.min(ttl / 16, 3600000, (tonumber(f[4]) or 0) / 2) / 1000) * 1000
  redis.call('HSET', rec, 'a', at, 'w', string.format('%.0f', secs + slack / 1000))
  redis.call('PEXPIRE', rec, ttl + slack)
  return ttl + slack
end

local function announce(channel, tenant, ids)
  if #ids > 0 then
    redis.call('PUBLISH', channel, cjson.encode({tenant = tenant, sessions = ids}))
  end
end
`

// newScript adds the prelude to body and fills in the store's constants.
func newScript(body string) *goredis.Script {
	return goredis.NewScript(strings.NewReplacer(
		"$EXPIRED", store.ReasonExpired,
		"$IDLE", store.ReasonIdleTimeout,
		"$EVICTED", store.ReasonEvicted,
		"$REVOKED", store.ReasonRevoked,
		"$LIMIT", store.RefusedLimit,
		"$REJECT_NEW", store.StrategyRejectNew,
	).Replace(prelude + body))
}

// createScript creates a session under the user's limit and cut-off, ending the user's sessions
// that the policy has ended and evicting the oldest when asked. Every key it touches is in the
// user's hash slot.
//
// KEYS: record of the new session, user's live set, user's cut-off.
// ARGV: 1 record key prefix of the user, 2 channel, 3 tenant, 4 user, 5 session id,
// 6 created, 7 last active, 8 details (JSON), 9 initial TTL ms (0: none), 10 TTL ms set again
// by each touch (0: none), 11 tombstone TTL ms, 12 issued at ("" when unknown), 13 now,
// 14 force re-login: sessions created at or before it are expired ("" when off), 15 idle: sessions
// last active at or before it are idle ("" when off), 16 max sessions ("" when off), 17 strategy.
//
// It returns {outcome, record (HGETALL of the existing session, else empty), ended records...}.
var createScript = newScript(`
local rec, live, cut = KEYS[1], KEYS[2], KEYS[3]
local prefix, channel, tenant, id, now = ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[13]

if redis.call('EXISTS', rec) == 1 then
  return {'existing', redis.call('HGETALL', rec)}
end
local cutoff = redis.call('GET', cut)
if cutoff and (ARGV[12] == '' or earlier(ARGV[12], cutoff)) then
  return {'$REVOKED', {}}
end

local ended, ids, alive, fit = {}, {}, {}, false
local function stop(key, other, reason)
  fit = finish(key, live, other, reason, now) or fit
  ended[#ended + 1] = redis.call('HGETALL', key)
  ids[#ids + 1] = other
end
for _, other in ipairs(redis.call('SMEMBERS', live)) do
  local key = prefix .. other
  local f = redis.call('HMGET', key, 'c', 'a')
  if not f[1] then
    redis.call('SREM', live, other) -- expired with its TTL
  elseif ARGV[14] ~= '' and not earlier(ARGV[14], f[1]) then
    stop(key, other, '$EXPIRED')
  elseif ARGV[15] ~= '' and not earlier(ARGV[15], f[2]) then
    stop(key, other, '$IDLE')
  else
    alive[#alive + 1] = {id = other, created = f[1]}
  end
end

local outcome = 'created'
local max = tonumber(ARGV[16])
if max and #alive >= max then
  if ARGV[17] == '$REJECT_NEW' then
    outcome = '$LIMIT'
  else
    table.sort(alive, function(x, y)
      if x.created ~= y.created then return earlier(x.created, y.created) end
      return byteless(x.id, y.id)
    end)
    -- Leave max-1 so that the new one makes max, even when the limit was lowered.
    for i = 1, math.min(#alive, #alive - max + 1) do
      stop(prefix .. alive[i].id, alive[i].id, '$EVICTED')
    end
  end
end
if fit then refit(live, prefix) end

if outcome == 'created' then
  redis.call('HSET', rec, 't', tenant, 'u', ARGV[4], 'i', id, 'c', ARGV[6], 'a', ARGV[7],
    'd', ARGV[8], 'x', ARGV[10], 'z', ARGV[11])
  redis.call('SADD', live, id)
  local ttl = tonumber(ARGV[9])
  if ttl == 0 then
    redis.call('PERSIST', live)
  else
    redis.call('PEXPIRE', rec, ttl)
    if redis.call('SCARD', live) == 1 then
      redis.call('PEXPIRE', live, ttl)
    else
      redis.call('PEXPIRE', live, ttl, 'GT') -- a persistent set stays so
    end
  end
end
announce(channel, tenant, ids)
local out = {outcome, {}}
for _, r in ipairs(ended) do out[#out + 1] = r end
return out
`)

// endScript ends one session.
//
// KEYS: session record, user's live set. ARGV: 1 record key prefix of the user, 2 channel,
// 3 tenant, 4 session id, 5 reason, 6 now.
//
// It returns {1 when it ended the session else 0, record (empty when there is none)}.
var endScript = newScript(`
local f = redis.call('HMGET', KEYS[1], 'c', 'e')
if not f[1] then return {0, {}} end
local n = 0
if not f[2] then
  if finish(KEYS[1], KEYS[2], ARGV[4], ARGV[5], ARGV[6]) then refit(KEYS[2], ARGV[1]) end
  announce(ARGV[2], ARGV[3], {ARGV[4]})
  n = 1
end
return {n, redis.call('HGETALL', KEYS[1])}
`)

// endUserScript ends a user's live sessions and raises the user's cut-off.
//
// KEYS: user's live set, user's cut-off. ARGV: 1 record key prefix of the user, 2 channel,
// 3 tenant, 4 now, 5 reason, 6 session id to keep ("" for none), 7 "1" to raise the cut-off,
// 8 cut-off TTL ms.
//
// It returns the records of the sessions it ended.
var endUserScript = newScript(`
local live = KEYS[1]
if ARGV[7] == '1' then
  local cur = redis.call('GET', KEYS[2])
  if not cur or earlier(cur, ARGV[4]) then
    redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[8])
  end
end
local ended, ids, fit = {}, {}, false
for _, id in ipairs(redis.call('SMEMBERS', live)) do
  local key = ARGV[1] .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('SREM', live, id) -- expired with its TTL
  elseif id ~= ARGV[6] then
    fit = finish(key, live, id, ARGV[5], ARGV[4]) or fit
    ended[#ended + 1] = redis.call('HGETALL', key)
    ids[#ids + 1] = id
  end
end
if fit then refit(live, ARGV[1]) end
announce(ARGV[2], ARGV[3], ids)
return ended
`)

// touchScript raises a live session's last activity and, when its policy has an idle timeout,
// extends its TTL and its live set's (see touched). It returns the TTL its pointer, which a
// Cluster keeps in another slot, is to be given: a tombstone TTL past the record's, or 0 when
// the record's was not extended.
//
// KEYS: session record, user's live set. ARGV: 1 the activity time.
var touchScript = newScript(`
local f = redis.call('HMGET', KEYS[1], 'a', 'e', 'x', 'z', 'w')
local ttl = touched(KEYS[1], f, ARGV[1])
if ttl == 0 then return 0 end
redis.call('PEXPIRE', KEYS[2], ttl, 'GT')
return ttl + (tonumber(f[4]) or 0)
`)

// touchManyScript is touchScript for many sessions at once, on a single server: it also
// extends each touched session's pointer (a tombstone TTL past its record), which a Cluster
// keeps in another slot.
//
// KEYS: per session, its record, its user's live set and its pointer. ARGV: per session, its
// activity time.
var touchManyScript = newScript(`
for i = 1, #ARGV do
  local rec = KEYS[3 * i - 2]
  local f = redis.call('HMGET', rec, 'a', 'e', 'x', 'z', 'w')
  local ttl = touched(rec, f, ARGV[i])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[3 * i - 1], ttl, 'GT')
    redis.call('PEXPIRE', KEYS[3 * i], ttl + (tonumber(f[4]) or 0))
  end
end
return 0
`)

// liveScript reads a user's live sessions in one round trip.
//
// KEYS: user's live set. ARGV: 1 record key prefix of the user. It returns their records.
var liveScript = newScript(`
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local r = redis.call('HGETALL', ARGV[1] .. id)
  if #r > 0 then out[#out + 1] = r end
end
return out
`)

// purgeScript deletes a session record and takes it out of its user's live set.
//
// KEYS: session record, user's live set. ARGV: 1 record key prefix of the user, 2 session id.
// It returns 1 when there was a record.
var purgeScript = newScript(`
local persistent = redis.call('PTTL', KEYS[1]) == -1
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if redis.call('SREM', KEYS[2], ARGV[2]) == 1 and persistent then refit(KEYS[2], ARGV[1]) end
return 1
`)

// putPolicyScript sets a tenant's policy and announces it.
// KEYS: policy. ARGV: 1 policy (JSON), 2 channel, 3 tenant.
var putPolicyScript = newScript(`
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], cjson.encode({tenant = ARGV[3], policy = true}))
return 0
`)

// deletePolicyScript deletes a tenant's policy and announces it when there was one.
// KEYS: policy. ARGV: 1 channel, 2 tenant.
var deletePolicyScript = newScript(`
if redis.call('DEL', KEYS[1]) == 1 then
  redis.call('PUBLISH', ARGV[1], cjson.encode({tenant = ARGV[2], policy = true}))
end
return 0
`)

// dropUsersScript takes users out of a tenant's user index unless a creation for them
// started after a time, so that a creation in flight keeps its user listed.
//
// KEYS: tenant's user index, tenant's last-creation hash. ARGV: 1 the time (unix ms), 2... users.
var dropUsersScript = newScript(`
for i = 2, #ARGV do
  local at = tonumber(redis.call('HGET', KEYS[2], ARGV[i]))
  if not at or at < tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
return 0
`)

// dropPointerScript deletes a session pointer unless it changed since it was read.
// KEYS: pointer. ARGV: 1 the value read.
var dropPointerScript = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
