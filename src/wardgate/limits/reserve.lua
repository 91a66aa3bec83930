-- wardgate rate limits: reserve every demand of one request atomically (see limits/buckets.py for the semantics;
-- memory.py implements the same in Python). Server time (TIME) keeps replicas' clocks out of it.
-- KEYS[1]: an anchor key carrying the hash tag every bucket key shares (one Redis Cluster slot).
-- ARGV[1]: JSON {"l": lease_id, "s": lease_seconds, "r": [demand...], "a": [[demand...]...],
--          "p": "f" (first alternative that fits) | "r" (most headroom within the first tier that has room),
--          "t": [tier of each alternative]},
--          demand = [key, kind ("r" rate | "c" concurrency | "w" window), capacity, period, amount, enforce (1|0)]
-- (One JSON argument instead of one argument per field: packing dozens of arguments cost more gateway CPU than
-- the whole rest of rate limiting.)
-- Returns {ok, blocked, retry_ms, chosen, n_audit, audit..., {remaining, reset_ms} per taken demand}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local payload = cjson.decode(ARGV[1])
local lease_id = payload.l
local lease_seconds = tonumber(payload.s)

local function read(d)
  return {key = d[1], kind = d[2], cap = tonumber(d[3]), period = tonumber(d[4]), amount = tonumber(d[5]),
          enforce = d[6] == 1}
end

local function level(d)
  local state = redis.call('HMGET', d.key, 'l', 't')
  if not state[1] then return d.cap end
  local refill = math.max(0, now - tonumber(state[2])) * d.cap / d.period
  return math.min(d.cap, tonumber(state[1]) + refill)
end

-- nil when the demand fits, else seconds until it would (0: never)
local function shortfall(d)
  if d.kind == 'w' then
    d.spent = tonumber(redis.call('HGET', d.key, 'u') or '0')
    if d.spent + d.amount <= d.cap then return nil end
    if d.amount > d.cap then return 0 end
    return d.period
  end
  if d.kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', d.key, '-inf', now)
    if redis.call('ZCARD', d.key) < d.cap then return nil end
    local first = redis.call('ZRANGE', d.key, 0, 0, 'WITHSCORES')
    return math.max(0, tonumber(first[2]) - now)
  end
  d.level = level(d)
  if d.level >= d.amount then return nil end
  if d.amount > d.cap then return 0 end
  return (d.amount - d.level) * d.period / d.cap
end

local function check(list)
  local audit = {}
  for i, d in ipairs(list) do
    local wait = shortfall(d)
    if wait then
      if d.enforce then return i, wait, audit end
      audit[#audit + 1] = i - 1
    end
  end
  return nil, 0, audit
end

local function take(d)
  if d.kind == 'w' then
    local spent = tonumber(redis.call('HINCRBYFLOAT', d.key, 'u', d.amount))
    if d.period > 0 then redis.call('PEXPIRE', d.key, math.ceil((d.period + 86400) * 1000)) end
    return d.cap - spent, d.period
  end
  if d.kind == 'c' then
    redis.call('ZADD', d.key, now + lease_seconds, lease_id)
    redis.call('PEXPIRE', d.key, math.ceil((lease_seconds + 1) * 1000))
    return math.max(0, d.cap - redis.call('ZCARD', d.key)), 0
  end
  local left = math.max(-d.cap, math.min(d.cap, (d.level or level(d)) - d.amount))
  local full_in = (d.cap - left) * d.period / d.cap
  redis.call('HSET', d.key, 'l', left, 't', now)
  redis.call('PEXPIRE', d.key, math.ceil(full_in * 1000) + 1000)
  return left, full_in
end

local required = {}
for i, d in ipairs(payload.r) do required[i] = read(d) end
local alternatives = {}
for a, option in ipairs(payload.a) do
  local demands = {}
  for i, d in ipairs(option) do demands[i] = read(d) end
  alternatives[a] = demands
end
local n_alt = #alternatives

local blocked, wait, audit = check(required)
if blocked then return {0, blocked - 1, math.ceil(wait * 1000), -1, 0} end
local chosen = nil
-- headroom left in an alternative after taking it: its tightest rate bucket's share (no bucket: unlimited)
local function room(option)
  local share = math.huge
  for _, d in ipairs(option) do
    if d.kind == 'r' then share = math.min(share, ((d.level or level(d)) - d.amount) / d.cap) end
  end
  return share
end

if n_alt > 0 then
  local best = nil
  local tiers = payload.t or {}
  local best_room = nil
  for a, option in ipairs(alternatives) do
    if chosen and payload.p == 'r' and tiers[a] ~= tiers[chosen] then break end
    local miss, option_wait = check(option)
    if not miss then
      if payload.p ~= 'r' then chosen = a; break end
      local r = room(option)
      if chosen == nil or r > best_room then chosen = a; best_room = r end
    elseif option_wait > 0 and (best == nil or option_wait < best) then best = option_wait end
  end
  if not chosen then return {0, -2, math.ceil((best or 0) * 1000), -1, 0} end
end

local out = {1, -1, 0, (chosen or 0) - 1, #audit}
for _, i in ipairs(audit) do out[#out + 1] = i end
local taken = {}
for _, d in ipairs(required) do taken[#taken + 1] = d end
if chosen then for _, d in ipairs(alternatives[chosen]) do taken[#taken + 1] = d end end
for _, d in ipairs(taken) do
  local left, full_in = take(d)
  out[#out + 1] = math.floor(left)
  out[#out + 1] = math.ceil(full_in * 1000)
end
return out
