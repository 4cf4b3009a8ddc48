package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// The closing protocol: the closer holds the closer lease, whose token is
// a fencing token (a number that only rises, one per holder); it reads every
// partition's status and Redis's clock, computes the pipeline watermark, and
// when it passed the end of a window that is not closed yet, CloseThrough
// runs the steps below in this order. Every step that writes checks the
// token inside its script against the highest token the key has seen and
// refuses a lower one, so a closer that stalled past its lease (GC, SIGSTOP,
// a slow network) and resumes mid-round changes nothing: its round ends with
// ErrLeaseLost. A crash anywhere in between is repaired by the next round,
// which finds the same sealed partials and emits the same windows again.

// ErrLeaseLost is returned by CloseThrough when a newer holder of the
// closer lease has fenced this one out: nothing was marked or dropped by the
// refused step, and the caller must stop closing until it holds the lease
// again.
var ErrLeaseLost = errors.New("closer lease lost to a newer holder")

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
`

// CloseThrough closes every window that ends after prev (the pipeline's
// closed bound, Meta.ClosedThrough) and at or below through, over the first
// partitions partitions, as the holder of the lease token:
//
//  1. seal: each partition's closed bound is raised to through (no later
//     Save can change those windows) and its partial counts of them are
//     read and summed per window;
//  2. emit: the windows with a non-zero total, oldest first, are handed to
//     emit, which must write them durably before it returns, with the end
//     offsets of the output topic's partitions after the write;
//  3. mark: one script records them as closed windows (expiring after the
//     retention, measured from now), raises the closed bound and records
//     the output's end offsets (Meta.Output); a window already marked
//     closed keeps its first value, and the bound never goes down;
//  4. drop: the sealed partial counts are deleted from the partitions.
//
// Seal, mark and drop each refuse a token lower than one their key has
// seen, and CloseThrough then returns ErrLeaseLost. When every seal was
// accepted the sums are complete, so even a closer fenced out later emits
// exactly what the newer holder emits: a key is never written with two
// values. It returns the windows emitted. An error of emit is returned as
// it is, before anything is marked; every other error is Redis's, wrapped.
func (s *RedisStore) CloseThrough(ctx context.Context, token int64, partitions int, prev, through, watermark int64,
	emit func([]ClosedWindow) (outputEnd []int64, err error)) ([]ClosedWindow, error) {
	sums, err := s.seal(ctx, token, partitions, through)
	if err != nil {
		return nil, err
	}
	sealed := make([]int64, 0, len(sums))
	var closing []ClosedWindow
	for start, c := range sums {
		sealed = append(sealed, start)
		if start+s.size > prev && c.Total() > 0 {
			closing = append(closing, ClosedWindow{Start: start, Counts: c})
		}
	}
	slices.SortFunc(closing, func(a, b ClosedWindow) int { return cmp.Compare(a.Start, b.Start) })
	out, err := emit(closing)
	if err != nil {
		return nil, err
	}
	if err := s.markClosed(ctx, token, closing, through, watermark, partitions, out); err != nil {
		return nil, err
	}
	return closing, s.dropClosed(ctx, token, partitions, sealed)
}

// RestoreClosed makes Redis agree with the output topic when it is behind
// it: windows whose records are on the topic beyond Meta.Output (a closer
// wrote them, then its mark was lost: a crash, a Redis that lost its last
// writes, a failover) are marked closed with exactly the values on the
// topic, the closed bound is raised to through (at least the end of the
// last of them), every partition is sealed through it, and the partials of
// those windows, which may now differ from the topic, are dropped. The
// output's end offsets outputEnd are recorded. Like CloseThrough it is
// fenced by token (ErrLeaseLost).
func (s *RedisStore) RestoreClosed(ctx context.Context, token int64, partitions int, windows []ClosedWindow, through, watermark int64, outputEnd []int64) error {
	sums, err := s.seal(ctx, token, partitions, through)
	if err != nil {
		return err
	}
	if err := s.markClosed(ctx, token, windows, through, watermark, partitions, outputEnd); err != nil {
		return err
	}
	sealed := make([]int64, 0, len(sums))
	for start := range sums {
		sealed = append(sealed, start)
	}
	return s.dropClosed(ctx, token, partitions, sealed)
}

// RecordOutput records the output topic's end offsets at the pipeline's
// first start, so that the closer knows where this pipeline's records begin
// (an output topic may hold older ones). It records nothing when offsets are
// recorded already, or when a partition of the first partitions has saved
// state although the offsets are missing: then Redis lost the pipeline's
// meta, and the closer reads the whole output topic back instead.
func (s *RedisStore) RecordOutput(ctx context.Context, partitions int, outputEnd []int64) error {
	cmds := make([]*redis.BoolCmd, partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HExists(ctx, s.keys.Partition(i), "offset")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the output's end offsets: %w", err)
	}
	for _, c := range cmds {
		if c.Val() {
			return nil // not a fresh pipeline
		}
	}
	if err := s.rdb.HSetNX(ctx, s.keys.Meta(), "output", encodeOffsets(outputEnd)).Err(); err != nil {
		return fmt.Errorf("record the output's end offsets: %w", err)
	}
	return nil
}

func encodeOffsets(offs []int64) string {
	b := make([]byte, 0, 8*len(offs))
	for i, o := range offs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, o, 10)
	}
	return string(b)
}

func decodeOffsets(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		o, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("offsets %q: %w", s, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// sealScript raises a partition's closed bound to ARGV[2] and returns
// {1, start, counts, start, counts, ...} for every window ending at or below
// it, or {0} when the token ARGV[1] is fenced out. KEYS[1] partition hash,
// ARGV[3] window size.
var sealScript = redis.NewScript(fenceLua + `
if not fence_ok() then return {0} end
local through = tonumber(ARGV[2])
local size = tonumber(ARGV[3])
local closed = redis.call('HGET', KEYS[1], 'closed')
if not closed or tonumber(closed) < through then
  redis.call('HSET', KEYS[1], 'closed', ARGV[2])
end
local out = {1}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 2) == 'w:' then
    local start = tonumber(string.sub(f, 3))
    if start + size <= through then
      out[#out + 1] = string.sub(f, 3)
      out[#out + 1] = all[i + 1]
    end
  end
end
return out
`)

// seal closes every window ending at or below through on each of the first
// partitions partitions (so no later Save can change them) and returns their
// partial counts, summed over the partitions, by window start.
func (s *RedisStore) seal(ctx context.Context, token int64, partitions int, through int64) (map[int64]eventtime.Counts, error) {
	cmds := make([]*redis.Cmd, partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = sealScript.Eval(ctx, p, []string{s.keys.Partition(i)}, token, through, s.size)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal windows through %d: %w", through, err)
	}
	sums := map[int64]eventtime.Counts{}
	lost := false
	for i, c := range cmds {
		res, err := c.Slice()
		if err != nil || len(res) == 0 {
			return nil, fmt.Errorf("seal partition %d: %v %w", i, res, err)
		}
		if res[0] != int64(1) {
			lost = true
			continue
		}
		for j := 1; j+1 < len(res); j += 2 {
			start, err := strconv.ParseInt(asString(res[j]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("seal partition %d: window %v: %w", i, res[j], err)
			}
			cnt, err := decodeCounts(asString(res[j+1]))
			if err != nil {
				return nil, fmt.Errorf("seal partition %d: %w", i, err)
			}
			sum := sums[start]
			for k := range sum {
				sum[k] += cnt[k]
			}
			sums[start] = sum
		}
	}
	if lost {
		return nil, fmt.Errorf("seal windows through %d with token %d: %w", through, token, ErrLeaseLost)
	}
	return sums, nil
}

// markScript records closed windows. KEYS: meta, closed set, closed-at set,
// then one window hash per window. ARGV: token, through, watermark,
// partitions, retention ms, window size, the output's end offsets ("" to
// keep them), the number k of vehicle types, their k names, then per
// window its start and k counts. A window at or below the stored closed
// bound is left as it is (it was marked before, with the value on the
// topic); the bound only rises; windows closed longer than the retention ago
// (by Redis's clock) leave the sets. Returns the number of windows written,
// or -1 when the token is fenced out.
var markScript = redis.NewScript(nowLua + fenceLua + `
if not fence_ok() then return -1 end
local through = tonumber(ARGV[2])
local closed = redis.call('HGET', KEYS[1], 'closed')
if closed then closed = tonumber(closed) end
local size = tonumber(ARGV[6])
local k = tonumber(ARGV[8])
local now = now_ms()
local written = 0
local pos = 9 + k
for w = 4, #KEYS do
  local start = tonumber(ARGV[pos])
  if not closed or start + size > closed then
    local fields = {}
    for i = 1, k do
      if ARGV[pos + i] ~= '0' then
        fields[#fields + 1] = ARGV[8 + i]
        fields[#fields + 1] = ARGV[pos + i]
      end
    end
    if #fields > 0 then
      redis.call('HSET', KEYS[w], unpack(fields))
      redis.call('PEXPIRE', KEYS[w], ARGV[5])
      redis.call('ZADD', KEYS[2], start, ARGV[pos])
      redis.call('ZADD', KEYS[3], now, ARGV[pos])
      written = written + 1
    end
  end
  pos = pos + k + 1
end
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. (now - tonumber(ARGV[5])), 'LIMIT', 0, 1000)
if #old > 0 then
  redis.call('ZREM', KEYS[2], unpack(old))
  redis.call('ZREM', KEYS[3], unpack(old))
end
if not closed or through > closed then
  redis.call('HSET', KEYS[1], 'closed', ARGV[2])
end
redis.call('HSET', KEYS[1], 'watermark', ARGV[3], 'partitions', ARGV[4])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'output', ARGV[7]) end
return written
`)

// markClosed records closed windows, raises the closed bound and records
// the output's end offsets (nil: kept) in one script on the pipeline's slot.
func (s *RedisStore) markClosed(ctx context.Context, token int64, windows []ClosedWindow, through, watermark int64, partitions int, outputEnd []int64) error {
	types := model.VehicleTypes()
	keys := make([]string, 0, 3+len(windows))
	keys = append(keys, s.keys.Meta(), s.keys.Closed(), s.keys.ClosedAt())
	args := make([]any, 0, 8+len(types)+len(windows)*(1+len(types)))
	args = append(args, token, through, watermark, partitions, s.retention.Milliseconds(), s.size, encodeOffsets(outputEnd), len(types))
	for _, t := range types {
		args = append(args, t.String())
	}
	for _, w := range windows {
		keys = append(keys, s.keys.Window(w.Start))
		args = append(args, w.Start)
		for _, t := range types {
			args = append(args, w.Counts[t.Index()])
		}
	}
	n, err := markScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return fmt.Errorf("mark windows closed through %d: %w", through, err)
	}
	if n < 0 {
		return fmt.Errorf("mark windows closed through %d with token %d: %w", through, token, ErrLeaseLost)
	}
	return nil
}

// dropScript deletes fields ARGV[2..] of the partition hash KEYS[1] unless
// the token ARGV[1] is fenced out (then -1).
var dropScript = redis.NewScript(fenceLua + `
if not fence_ok() then return -1 end
return redis.call('HDEL', KEYS[1], unpack(ARGV, 2))
`)

// dropClosed deletes the partial counts of the windows starting at starts
// from every partition; they are sealed and summed already.
func (s *RedisStore) dropClosed(ctx context.Context, token int64, partitions int, starts []int64) error {
	if len(starts) == 0 {
		return nil
	}
	args := make([]any, 1, 1+len(starts))
	args[0] = token
	for _, st := range starts {
		args = append(args, windowField+strconv.FormatInt(st, 10))
	}
	cmds := make([]*redis.Cmd, partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = dropScript.Eval(ctx, p, []string{s.keys.Partition(i)}, args...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop closed windows: %w", err)
	}
	for _, c := range cmds {
		if n, _ := c.Int(); n < 0 {
			return fmt.Errorf("drop closed windows with token %d: %w", token, ErrLeaseLost)
		}
	}
	return nil
}

// statusScript reads what the closer needs of a partition, KEYS[1]:
// {offset, max, idle} where idle is 1 while the idle lease runs by this
// server's clock, so the lease is written and read on one clock.
var statusScript = redis.NewScript(nowLua + `
local v = redis.call('HMGET', KEYS[1], 'offset', 'max', 'idle')
local idle = 0
if v[3] and tonumber(v[3]) > now_ms() then idle = 1 end
return {v[1] or '', v[2] or '', idle}
`)

// clockScript returns Redis's clock (ms) on the node of KEYS[1].
var clockScript = redis.NewScript(nowLua + `return now_ms()`)

// Statuses reads every partition's largest event time and whether its idle
// lease runs, in partition order, and the pipeline's clock: Redis's time,
// in epoch ms, on the node that holds the pipeline's keys. The closer takes
// every wall-clock decision (the watermark when all partitions are idle)
// with that clock, never its own.
func (s *RedisStore) Statuses(ctx context.Context, partitions int) ([]PartitionStatus, int64, error) {
	cmds := make([]*redis.Cmd, partitions)
	var clock *redis.Cmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		clock = clockScript.Eval(ctx, p, []string{s.keys.Meta()})
		for i := range cmds {
			cmds[i] = statusScript.Eval(ctx, p, []string{s.keys.Partition(i)})
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read partition statuses: %w", err)
	}
	now, err := clock.Int64()
	if err != nil {
		return nil, 0, fmt.Errorf("read Redis's clock: %w", err)
	}
	out := make([]PartitionStatus, partitions)
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil || len(v) != 3 {
			return nil, 0, fmt.Errorf("partition %d status %v: %w", i, v, err)
		}
		off, mx := asString(v[0]), asString(v[1])
		st := PartitionStatus{Saved: off != "", Idle: v[2] == int64(1)}
		if st.MaxEventTime, err = parseOptInt(mx, true, NoWatermark); err != nil {
			return nil, 0, fmt.Errorf("partition %d: max %q: %w", i, mx, err)
		}
		out[i] = st
	}
	return out, now, nil
}

// ReadMeta reads the pipeline's state; a pipeline that never closed a
// window has ClosedThrough and Watermark NoWatermark.
func (s *RedisStore) ReadMeta(ctx context.Context) (Meta, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.Meta()).Result()
	if err != nil {
		return Meta{}, fmt.Errorf("read meta: %w", err)
	}
	return parseMeta(m)
}

// ReadMetaAndClock reads the pipeline's state and Redis's clock (epoch ms,
// on the node of the pipeline's keys) in one round trip: what an instance
// that does not hold the closer lease needs to report the pipeline
// watermark the holder recorded and its lag.
func (s *RedisStore) ReadMetaAndClock(ctx context.Context) (Meta, int64, error) {
	var all *redis.MapStringStringCmd
	var clock *redis.Cmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, s.keys.Meta())
		clock = clockScript.Eval(ctx, p, []string{s.keys.Meta()})
		return nil
	})
	if err != nil {
		return Meta{}, 0, fmt.Errorf("read meta and clock: %w", err)
	}
	now, err := clock.Int64()
	if err != nil {
		return Meta{}, 0, fmt.Errorf("read Redis's clock: %w", err)
	}
	meta, err := parseMeta(all.Val())
	return meta, now, err
}

func parseMeta(m map[string]string) (Meta, error) {
	var err error
	var meta Meta
	c, ok := m["closed"]
	if meta.ClosedThrough, err = parseOptInt(c, ok, NoWatermark); err != nil {
		return meta, fmt.Errorf("read meta: closed %q: %w", c, err)
	}
	w, ok := m["watermark"]
	if meta.Watermark, err = parseOptInt(w, ok, NoWatermark); err != nil {
		return meta, fmt.Errorf("read meta: watermark %q: %w", w, err)
	}
	meta.Partitions, _ = strconv.Atoi(m["partitions"])
	if meta.Output, err = decodeOffsets(m["output"]); err != nil {
		return meta, fmt.Errorf("read meta: output: %w", err)
	}
	meta.InitialPartitions, _ = strconv.Atoi(m["initial_partitions"])
	return meta, nil
}

// RecordPartitions records the input topic's partition count when the
// pipeline first starts (it is kept from then on, until a reset) and
// returns the recorded one: a partition at or above it was added to the
// topic later and is read from its beginning.
func (s *RedisStore) RecordPartitions(ctx context.Context, partitions int) (int, error) {
	var got *redis.StringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, s.keys.Meta(), "initial_partitions", partitions)
		got = p.HGet(ctx, s.keys.Meta(), "initial_partitions")
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("record the input's partition count: %w", err)
	}
	n, err := strconv.Atoi(got.Val())
	if err != nil {
		return 0, fmt.Errorf("record the input's partition count: %q: %w", got.Val(), err)
	}
	return n, nil
}

// SetWatermark records the pipeline watermark and partition count without
// closing anything (for /stats).
func (s *RedisStore) SetWatermark(ctx context.Context, watermark int64, partitions int) error {
	fields := []any{"partitions", partitions}
	if watermark != NoWatermark {
		fields = append(fields, "watermark", watermark)
	}
	if err := s.rdb.HSet(ctx, s.keys.Meta(), fields...).Err(); err != nil {
		return fmt.Errorf("set watermark: %w", err)
	}
	return nil
}

// leadScript takes or renews the closer lease. KEYS[1] lease, KEYS[2] meta.
// ARGV[1] owner, ARGV[2] ttl ms. The lease's value is "<token>:<owner>";
// a new holder's token is the larger of the last token + 1 and Redis's
// clock in ms, so tokens rise even when Redis lost its last writes. Returns
// the token, or 0 when another owner holds the lease.
var leadScript = redis.NewScript(nowLua + `
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, ':', 1, true)
  if string.sub(cur, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(cur, 1, sep - 1))
  end
  return 0
end
local tok = math.max(tonumber(redis.call('HGET', KEYS[2], 'lease') or '0') + 1, now_ms())
redis.call('HSET', KEYS[2], 'lease', tok)
redis.call('SET', KEYS[1], tok .. ':' .. ARGV[1], 'PX', ARGV[2])
return tok
`)

// TryLead takes or renews the closer lease for owner for ttl (by Redis's
// clock) and returns its fencing token, or 0 when another owner holds it.
// The token stays the same while owner renews in time, and every new
// holder gets a larger one; CloseThrough refuses to act on a token lower
// than one already used.
func (s *RedisStore) TryLead(ctx context.Context, owner string, ttl time.Duration) (int64, error) {
	tok, err := leadScript.Run(ctx, s.rdb, []string{s.keys.Closer(), s.keys.Meta()}, owner, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("closer lease: %w", err)
	}
	return tok, nil
}

// ReleaseLead gives the closer lease up if owner holds it.
func (s *RedisStore) ReleaseLead(ctx context.Context, owner string) error {
	const script = `
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, string.find(cur, ':', 1, true) + 1) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
	return s.rdb.Eval(ctx, script, []string{s.keys.Closer()}, owner).Err()
}

// Wake tells the closers of every instance that a partition saved progress
// that may let windows close (Redis pub/sub on the pipeline's channel), so
// the lease holder closes them now rather than at its next tick. Best
// effort: a lost wake costs one close interval.
func (s *RedisStore) Wake(ctx context.Context) error {
	if err := s.rdb.Publish(ctx, s.keys.Wake(), "").Err(); err != nil {
		return fmt.Errorf("wake the closer: %w", err)
	}
	return nil
}

// Wakes delivers a value for the wakes of any instance (Wake) until ctx
// ends; wakes that come while one is pending are merged. The subscription
// reconnects by itself after a Redis outage.
func (s *RedisStore) Wakes(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	ps := s.rdb.Subscribe(ctx, s.keys.Wake())
	go func() {
		defer ps.Close()
		ch := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-ch:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
