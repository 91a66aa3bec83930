-- wardgate rate limits: settle many reservations at once (refunds to rate buckets, released leases).
-- KEYS[1]: the anchor key (hash tag).
-- ARGV[1]: JSON {"f": [[key, capacity, period, units, kind]...], "r": [[key, lease]...]}
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local payload = cjson.decode(ARGV[1])
local function window(key, units)
  if redis.call('EXISTS', key) == 1 then
    local spent = tonumber(redis.call('HINCRBYFLOAT', key, 'u', -units))
    if spent < 0 then redis.call('HSET', key, 'u', 0) end
  end
end

local function rate(key, cap, period, units)
  local state = redis.call('HMGET', key, 'l', 't')
  local level = cap
  if state[1] then
    level = math.min(cap, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * cap / period)
  end
  level = math.max(-cap, math.min(cap, level + units))
  if level >= cap then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'l', level, 't', now)
    redis.call('PEXPIRE', key, math.ceil((cap - level) * period / cap * 1000) + 1000)
  end
end

for _, refund in ipairs(payload.f) do
  if refund[5] == 'w' then
    window(refund[1], tonumber(refund[4]))
  else
    rate(refund[1], tonumber(refund[2]), tonumber(refund[3]), tonumber(refund[4]))
  end
end
for _, release in ipairs(payload.r) do
  redis.call('ZREM', release[1], release[2])
end
return #payload.f + #payload.r
