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
// meta's fence or ARGV[3] does not renew it: it takes a new one. Returns
// {token, 1} when it was newly taken after an earlier holder's, {token, 0}
// when renewed or taken as the pipeline's first, {0, 0} when another owner
// holds it.
var leadScript = redis.NewScript(nowLua + `
local fence = tonumber(redis.call('HGET', KEYS[2], 'fence') or '0')
local floor = tonumber(ARGV[3])
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, ':', 1, true)
  if string.sub(cur, sep + 1) ~= ARGV[1] then return {0, 0} end
  local tok = tonumber(string.sub(cur, 1, sep - 1))
  if tok >= fence and tok >= floor then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {tok, 0}
  end
end
local last = tonumber(redis.call('HGET', KEYS[2], 'lease') or '0')
local tok = math.max(last + 1, fence + 1, floor, now_ms())
redis.call('HSET', KEYS[2], 'lease', tok)
redis.call('SET', KEYS[1], tok .. ':' .. ARGV[1], 'PX', ARGV[2])
if last == 0 then return {tok, 0} end
return {tok, 1}
`)

// TryLead takes or renews the closer lease for owner for ttl (by Redis's
// clock) and returns its fencing token, 0 when another owner holds it, and
// whether the token was newly taken after another one was issued (a
// predecessor may still be in a round: wait it out before reading the
// output back); the pipeline's first token has none.
// The token stays the same while owner renews in time, and every new
// holder gets a larger one, at least floor (0: any); a token below a fence
// is never renewed. CloseThrough refuses to act on a token lower than one
// already used.
func (s *RedisStore) TryLead(ctx context.Context, owner string, ttl time.Duration, floor int64) (token int64, afterAnother bool, err error) {
	res, err := leadScript.Run(ctx, s.rdb, []string{s.keys.Closer(), s.keys.Meta()}, owner, ttl.Milliseconds(), floor).Int64Slice()
	if err != nil || len(res) != 2 {
		return 0, false, fmt.Errorf("closer lease: %v %w", res, err)
	}
	return res[0], res[1] == 1, nil
}

// ReleaseLead gives the closer lease up if owner holds it.
func (s *RedisStore) ReleaseLead(ctx context.Context, owner string) error {
	const script = `
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, string.find(cur, ':', 1, true) + 1) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
	return s.rdb.Eval(ctx, script, []string{s.keys.Closer()}, owner).Err()
}
