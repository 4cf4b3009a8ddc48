package state

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// The closing protocol: the closer reads every partition's status, computes
// the pipeline watermark, and when it passed the end of a window that is
// not closed yet, CloseThrough runs the steps below in this order. A crash
// anywhere in between is repaired by the next round, which finds the same
// sealed partials and emits the same windows again.

// CloseThrough closes every window that ends after prev (the pipeline's
// closed bound, Meta.ClosedThrough) and at or below through, over the first
// partitions partitions:
//
//  1. seal: each partition's closed bound is raised to through (no later
//     Save can change those windows) and its partial counts of them are
//     read and summed per window;
//  2. emit: the windows with a non-zero total, oldest first, are handed to
//     emit, which must write them durably before it returns;
//  3. mark: one transaction records them as closed windows (expiring after
//     the retention) and sets the closed bound and watermark;
//  4. drop: the sealed partial counts are deleted from the partitions.
//
// It returns the windows emitted. An error of emit is returned as it is,
// before anything is marked; every other error is Redis's, wrapped.
func (s *RedisStore) CloseThrough(ctx context.Context, partitions int, prev, through, watermark int64, emit func([]ClosedWindow) error) ([]ClosedWindow, error) {
	sums, err := s.seal(ctx, partitions, through)
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
	if err := emit(closing); err != nil {
		return nil, err
	}
	if err := s.markClosed(ctx, closing, through, watermark, partitions); err != nil {
		return nil, err
	}
	return closing, s.dropClosed(ctx, partitions, sealed)
}

// sealScript raises a partition's closed bound to ARGV[1] and returns the
// start/counts pairs of every window ending at or below it. KEYS[1]
// partition hash, ARGV[2] window size.
var sealScript = redis.NewScript(`
local through = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local closed = redis.call('HGET', KEYS[1], 'closed')
if not closed or tonumber(closed) < through then
  redis.call('HSET', KEYS[1], 'closed', ARGV[1])
end
local out = {}
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
func (s *RedisStore) seal(ctx context.Context, partitions int, through int64) (map[int64]eventtime.Counts, error) {
	cmds := make([]*redis.Cmd, partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = sealScript.Eval(ctx, p, []string{s.keys.Partition(i)}, through, s.size)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal windows through %d: %w", through, err)
	}
	sums := map[int64]eventtime.Counts{}
	for i, c := range cmds {
		pairs, err := c.StringSlice()
		if err != nil {
			return nil, fmt.Errorf("seal partition %d: %w", i, err)
		}
		for j := 0; j+1 < len(pairs); j += 2 {
			start, err := strconv.ParseInt(pairs[j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("seal partition %d: window %q: %w", i, pairs[j], err)
			}
			cnt, err := decodeCounts(pairs[j+1])
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
	return sums, nil
}

// markClosed records closed windows and the new closed bound and watermark
// in one transaction; windows expire after the retention.
func (s *RedisStore) markClosed(ctx context.Context, windows []ClosedWindow, through, watermark int64, partitions int) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, w := range windows {
			key := s.keys.Window(w.Start)
			fields := make([]any, 0, 2*model.NumVehicleTypes)
			for _, t := range model.VehicleTypes() {
				if n := w.Counts[t.Index()]; n > 0 {
					fields = append(fields, t.String(), n)
				}
			}
			p.HSet(ctx, key, fields...)
			p.PExpire(ctx, key, s.retention)
			p.ZAdd(ctx, s.keys.Closed(), redis.Z{Score: float64(w.Start), Member: w.Start})
		}
		p.ZRemRangeByScore(ctx, s.keys.Closed(), "-inf", "("+strconv.FormatInt(through-s.retention.Milliseconds(), 10))
		p.HSet(ctx, s.keys.Meta(), "closed", through, "watermark", watermark, "partitions", partitions)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark windows closed through %d: %w", through, err)
	}
	return nil
}

// dropClosed deletes the partial counts of the windows starting at starts
// from every partition; they are sealed and summed already.
func (s *RedisStore) dropClosed(ctx context.Context, partitions int, starts []int64) error {
	if len(starts) == 0 {
		return nil
	}
	fields := make([]string, len(starts))
	for i, st := range starts {
		fields[i] = windowField + strconv.FormatInt(st, 10)
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range partitions {
			p.HDel(ctx, s.keys.Partition(i), fields...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop closed windows: %w", err)
	}
	return nil
}

// Statuses reads every partition's largest event time and idle lease, in
// partition order.
func (s *RedisStore) Statuses(ctx context.Context, partitions int) ([]PartitionStatus, error) {
	cmds := make([]*redis.SliceCmd, partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HMGet(ctx, s.keys.Partition(i), "offset", "max", "idle")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read partition statuses: %w", err)
	}
	out := make([]PartitionStatus, partitions)
	for i, c := range cmds {
		v := c.Val()
		off, _ := v[0].(string)
		mx, hasMax := v[1].(string)
		idle, hasIdle := v[2].(string)
		st := PartitionStatus{Saved: off != "", MaxEventTime: NoWatermark}
		if st.MaxEventTime, err = parseOptInt(mx, hasMax, NoWatermark); err != nil {
			return nil, fmt.Errorf("partition %d: max %q: %w", i, mx, err)
		}
		if st.IdleUntil, err = parseOptInt(idle, hasIdle, 0); err != nil {
			return nil, fmt.Errorf("partition %d: idle %q: %w", i, idle, err)
		}
		out[i] = st
	}
	return out, nil
}

// ReadMeta reads the pipeline's state; a pipeline that never closed a
// window has ClosedThrough and Watermark NoWatermark.
func (s *RedisStore) ReadMeta(ctx context.Context) (Meta, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.Meta()).Result()
	if err != nil {
		return Meta{}, fmt.Errorf("read meta: %w", err)
	}
	var meta Meta
	c, ok := m["closed"]
	if meta.ClosedThrough, err = parseOptInt(c, ok, NoWatermark); err != nil {
		return meta, fmt.Errorf("read meta: closed %q: %w", c, err)
	}
	w, ok := m["watermark"]
	if meta.Watermark, err = parseOptInt(w, ok, NoWatermark); err != nil {
		return meta, fmt.Errorf("read meta: watermark %q: %w", w, err)
	}
	p, _ := strconv.Atoi(m["partitions"])
	meta.Partitions = p
	return meta, nil
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

// lockScript takes or renews a lease: it succeeds when the key is free or
// already held by ARGV[1].
var lockScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

// TryLead takes or renews the closer lease for owner and reports whether
// owner holds it. The lease only keeps closers from doing the same work
// twice; correctness never depends on it.
func (s *RedisStore) TryLead(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	n, err := lockScript.Run(ctx, s.rdb, []string{s.keys.Closer()}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("closer lease: %w", err)
	}
	return n == 1, nil
}

// ReleaseLead gives the closer lease up if owner holds it.
func (s *RedisStore) ReleaseLead(ctx context.Context, owner string) error {
	const script = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
	return s.rdb.Eval(ctx, script, []string{s.keys.Closer()}, owner).Err()
}
