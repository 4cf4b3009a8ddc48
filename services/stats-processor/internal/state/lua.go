package state

// nowLua is a Lua function returning Redis's clock in epoch milliseconds:
// every wall-clock decision of the protocol is taken with it, so instances
// whose clocks disagree still agree on leases and idleness.
const nowLua = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// fenceLua checks a fencing token (ARGV[1]) against the highest one the hash
// KEYS[1] has seen and records it; it returns false for a lower token.
const fenceLua = `
local function fence_ok()
  local tok = tonumber(ARGV[1])
  local seen = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
  if tok < seen then return false end
  if tok > seen then redis.call('HSET', KEYS[1], 'fence', ARGV[1]) end
  return true
end
local function fence_seen()
  return tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
end
`

// holdsLua checks that the lease KEYS[2] is "<ARGV[1]>:<ARGV[2]>" (token,
// owner) now, by this server's clock (an expired key is gone), and that the
// token is not below the fence of meta KEYS[1].
const holdsLua = `
local function holds_lease()
  if redis.call('GET', KEYS[2]) ~= ARGV[1] .. ':' .. ARGV[2] then return false end
  return tonumber(ARGV[1]) >= tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
end
`
