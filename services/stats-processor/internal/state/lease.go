package state

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// leadScript takes or renews the closer lease. KEYS[1] lease, KEYS[2] meta.
// ARGV[1] owner, ARGV[2] ttl ms, ARGV[3] the lowest token acceptable (one
// above a fence that refused the owner's last token). The lease's value is
// "<token>:<owner>"; a new holder's token is the largest of the last token
// + 1, meta's fence + 1, ARGV[3] and Redis's clock in ms, so tokens rise
// even when Redis lost its last writes. An owner whose token is below
// meta's fence or ARGV[3] does not renew it: it takes a new one.
//
// It returns {token, after, handed, designated, seen}: token 0 when
// another owner holds the lease; after 1 when the token was newly taken
// after an earlier holder's (0 when renewed or the pipeline's first);
// handed, the designation id of a handover that gave the owner this token
// (meta's handed is "<token>:<id>"), else 0. An owner refused records
// itself as a candidate successor (meta's candidate, candidate_at); when
// it is the designated successor it marks successor_seen once and gets the
// designation's id as designated. A holder renewing gets successor_seen
// (Redis ms, 0 when unseen) as seen. A new token ends any handover.
var leadScript = redis.NewScript(nowLua + `
local fence = tonumber(redis.call('HGET', KEYS[2], 'fence') or '0')
local floor = tonumber(ARGV[3])
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, ':', 1, true)
  local tok = tonumber(string.sub(cur, 1, sep - 1))
  if string.sub(cur, sep + 1) ~= ARGV[1] then
    local now = now_ms()
    redis.call('HSET', KEYS[2], 'candidate', ARGV[1], 'candidate_at', now)
    local d = redis.call('HMGET', KEYS[2], 'successor', 'successor_since')
    if d[1] == ARGV[1] then
      redis.call('HSETNX', KEYS[2], 'successor_seen', now)
      return {0, 0, 0, tonumber(d[2]), 0}
    end
    return {0, 0, 0, 0, 0}
  end
  if tok >= fence and tok >= floor then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    local m = redis.call('HMGET', KEYS[2], 'handed', 'successor_seen')
    local handed = 0
    if m[1] then
      local hs = string.find(m[1], ':', 1, true)
      if tonumber(string.sub(m[1], 1, hs - 1)) == tok then handed = tonumber(string.sub(m[1], hs + 1)) end
    end
    return {tok, 0, handed, 0, tonumber(m[2] or '0')}
  end
end
local last = tonumber(redis.call('HGET', KEYS[2], 'lease') or '0')
local tok = math.max(last + 1, fence + 1, floor, now_ms())
redis.call('HSET', KEYS[2], 'lease', tok)
redis.call('HDEL', KEYS[2], 'handed', 'successor', 'successor_since', 'successor_seen')
redis.call('SET', KEYS[1], tok .. ':' .. ARGV[1], 'PX', ARGV[2])
if last == 0 then return {tok, 0, 0, 0, 0} end
return {tok, 1, 0, 0, 0}
`)

// Lead is the closer lease as one TryLead found it.
type Lead struct {
	// Token is the owner's fencing token, 0 when another owner holds
	// the lease.
	Token int64
	// AfterAnother is set when the token was newly taken after another
	// one was issued: a predecessor may still be in a round, so wait it
	// out before reading the output back. The pipeline's first token has
	// none.
	AfterAnother bool
	// Handed is the designation id (Designate's) of the handover that
	// gave owner this token, 0 when the owner took it itself. Its wait is
	// the one since the designation was first observed: whoever was not
	// there then has to wait as after another.
	Handed int64
	// Designated is, when another owner holds the lease, the id of the
	// holder's designation of owner as its successor, 0 when none.
	Designated int64
	// SuccessorSeen is, for the holder, when (Redis ms) the successor it
	// designated first saw the designation, 0 when not yet.
	SuccessorSeen int64
}

// TryLead takes or renews the closer lease for owner for ttl (by Redis's
// clock) and returns it as Lead describes. The token stays the same while
// owner renews in time, and every new holder gets a larger one, at least
// floor (0: any); a token below a fence is never renewed. CloseThrough
// refuses to act on a token lower than one already used. An owner refused
// is recorded as a candidate for Designate.
func (s *RedisStore) TryLead(ctx context.Context, owner string, ttl time.Duration, floor int64) (Lead, error) {
	res, err := leadScript.Run(ctx, s.rdb, []string{s.keys.Closer(), s.keys.Meta()}, owner, ttl.Milliseconds(), floor).Int64Slice()
	if err != nil || len(res) != 5 {
		return Lead{}, fmt.Errorf("closer lease: %v %w", res, err)
	}
	return Lead{Token: res[0], AfterAnother: res[1] == 1, Handed: res[2], Designated: res[3], SuccessorSeen: res[4]}, nil
}

// ReleaseLead gives the closer lease up if owner holds it.
func (s *RedisStore) ReleaseLead(ctx context.Context, owner string) error {
	const script = `
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, string.find(cur, ':', 1, true) + 1) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
	return s.rdb.Eval(ctx, script, []string{s.keys.Closer()}, owner).Err()
}

// designateScript names the holder's successor. KEYS[1] lease, KEYS[2]
// meta; ARGV[1] token, ARGV[2] owner, ARGV[3] how recent (ms) the
// candidate must be, ARGV[4] an owner not to designate. Returns
// {successor, id} or {"", 0}.
var designateScript = redis.NewScript(nowLua + holdsLua + `
if not holds_lease() then return {'', 0} end
local now = now_ms()
local c = redis.call('HMGET', KEYS[1], 'candidate', 'candidate_at')
if not c[1] or c[1] == ARGV[2] or c[1] == ARGV[4] or now - tonumber(c[2]) > tonumber(ARGV[3]) then
  redis.call('HDEL', KEYS[1], 'successor', 'successor_since', 'successor_seen')
  return {'', 0}
end
redis.call('HSET', KEYS[1], 'successor', c[1], 'successor_since', now)
redis.call('HDEL', KEYS[1], 'successor_seen')
return {c[1], now}
`)

// Designate names the candidate recorded last (an owner TryLead refused
// within recent, other than not) the successor of owner, which must hold
// the lease with token, and returns it with the designation's id (Redis
// ms). It returns "" when owner does not hold the lease or there is no
// such candidate; a designation replaces the one before.
func (s *RedisStore) Designate(ctx context.Context, token int64, owner string, recent time.Duration, not string) (successor string, id int64, err error) {
	res, err := designateScript.Run(ctx, s.rdb, []string{s.keys.Meta(), s.keys.Closer()}, token, owner, recent.Milliseconds(), not).Slice()
	if err != nil || len(res) != 2 {
		return "", 0, fmt.Errorf("designate a successor for the closer lease: %v %w", res, err)
	}
	successor, _ = res[0].(string)
	id, _ = res[1].(int64)
	return successor, id, nil
}

// transferScript hands the lease over. KEYS[1] meta, KEYS[2] lease;
// ARGV[1] token, ARGV[2] owner, ARGV[3] successor, ARGV[4] designation
// id, ARGV[5] ttl ms. Returns the successor's token, 0 when refused.
var transferScript = redis.NewScript(nowLua + holdsLua + `
if not holds_lease() then return 0 end
local d = redis.call('HMGET', KEYS[1], 'successor', 'successor_since', 'lease', 'fence')
if d[1] ~= ARGV[3] or d[2] ~= ARGV[4] then return 0 end
local tok = math.max(tonumber(d[3] or '0') + 1, tonumber(d[4] or '0') + 1, now_ms())
redis.call('HSET', KEYS[1], 'lease', tok, 'handed', tok .. ':' .. ARGV[4])
redis.call('HDEL', KEYS[1], 'successor', 'successor_since', 'successor_seen')
redis.call('SET', KEYS[2], tok .. ':' .. ARGV[3], 'PX', ARGV[5])
return tok
`)

// Transfer gives the lease of owner (held with token) to the successor of
// designation id, with a new token (the same rule as TryLead's), records
// the handover for the successor's TryLead (Lead.Handed) and returns the
// new token; 0 when owner no longer holds the lease or the designation is
// not the current one.
func (s *RedisStore) Transfer(ctx context.Context, token int64, owner, successor string, id int64, ttl time.Duration) (int64, error) {
	tok, err := transferScript.Run(ctx, s.rdb, []string{s.keys.Meta(), s.keys.Closer()}, token, owner, successor, id, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("hand the closer lease to %s: %w", successor, err)
	}
	return tok, nil
}
