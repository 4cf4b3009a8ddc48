package state

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// NoWatermark is eventtime.NoWatermark: no event seen, or nothing closed.
const NoWatermark = eventtime.NoWatermark

// ErrFenced is matched by every *FencedError.
var ErrFenced = errors.New("checkpoint fenced")

// FencedError says why Save did not apply: another instance saved the
// partition since (StoredOffset differs from the expected one), or a window
// being written was closed meanwhile (ClosedThrough). Either way the caller's
// in-memory state is stale: reload and replay from the stored offset.
type FencedError struct {
	// StoredOffset is the offset in Redis (-1: none).
	StoredOffset int64
	// ClosedThrough is the partition's closed bound in Redis.
	ClosedThrough int64
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("checkpoint fenced: stored offset %d, closed through %d; reload the partition", e.StoredOffset, e.ClosedThrough)
}

// Is makes errors.Is(err, ErrFenced) true.
func (e *FencedError) Is(target error) bool { return target == ErrFenced }

// PartitionState is what Load returns for a partition.
type PartitionState struct {
	// Saved is false when the partition has no saved offset yet.
	Saved bool
	// Offset is the next offset to read (valid when Saved).
	Offset int64
	// MaxEventTime is the largest event time seen, or NoWatermark.
	MaxEventTime int64
	// ClosedThrough is the larger of the partition's and the pipeline's
	// closed bounds, or NoWatermark.
	ClosedThrough int64
	// Windows are the partial counts of the partition's open windows.
	Windows map[int64]eventtime.Counts
}

// Checkpoint is one atomic save of a partition.
type Checkpoint struct {
	Partition int
	// ExpectedOffset is the offset the caller loaded or last saved; -1 when
	// the partition had no saved state.
	ExpectedOffset int64
	// Offset is the next offset to read.
	Offset int64
	// MaxEventTime is the largest event time seen, or NoWatermark.
	MaxEventTime int64
	// IdleUntil is the wall-clock time (ms) until which the partition counts
	// as idle; 0 when it is not idle. A lease, so that a partition whose
	// owner died stops being idle.
	IdleUntil int64
	// Owner names the instance, for operators.
	Owner string
	// Windows are the windows changed since the last save, with their full
	// counts (not increments), so repeating a save is harmless.
	Windows map[int64]eventtime.Counts
}

// PartitionStatus is what the closer reads of every partition.
type PartitionStatus struct {
	Saved        bool
	MaxEventTime int64
	IdleUntil    int64
}

// ClosedWindow is a window's totals, summed over every partition.
type ClosedWindow struct {
	Start  int64
	Counts eventtime.Counts
}

// Meta is the pipeline's state.
type Meta struct {
	// ClosedThrough: every window ending at or below it is closed.
	ClosedThrough int64
	// Watermark is the pipeline watermark the closer last computed.
	Watermark int64
	// Partitions is the input topic's partition count the closer last saw.
	Partitions int
}

// RedisStore is the Redis implementation of the processor's state.
type RedisStore struct {
	rdb  redis.UniversalClient
	keys Keys
	size int64
}

// NewRedisStore returns a store over rdb for one pipeline.
func NewRedisStore(rdb redis.UniversalClient, keys Keys, windowSize time.Duration) *RedisStore {
	return &RedisStore{rdb: rdb, keys: keys, size: windowSize.Milliseconds()}
}

// Keys returns the store's key names.
func (s *RedisStore) Keys() Keys { return s.keys }

// Ping checks that Redis answers.
func (s *RedisStore) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// Load reads a partition's saved state; a partition never saved loads with
// Saved false and empty windows.
func (s *RedisStore) Load(ctx context.Context, partition int) (PartitionState, error) {
	var h *redis.MapStringStringCmd
	var metaClosed *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, s.keys.Partition(partition))
		metaClosed = p.HGet(ctx, s.keys.Meta(), "closed")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return PartitionState{}, fmt.Errorf("load partition %d: %w", partition, err)
	}
	m := h.Val()
	st := PartitionState{Windows: map[int64]eventtime.Counts{}}
	off, ok := m["offset"]
	st.Saved = ok
	if st.Offset, err = parseOptInt(off, ok, -1); err != nil {
		return st, fmt.Errorf("load partition %d: offset %q: %w", partition, off, err)
	}
	mx, ok := m["max"]
	if st.MaxEventTime, err = parseOptInt(mx, ok, NoWatermark); err != nil {
		return st, fmt.Errorf("load partition %d: max %q: %w", partition, mx, err)
	}
	cl, ok := m["closed"]
	if st.ClosedThrough, err = parseOptInt(cl, ok, NoWatermark); err != nil {
		return st, fmt.Errorf("load partition %d: closed %q: %w", partition, cl, err)
	}
	if mc, err := parseOptInt(metaClosed.Val(), metaClosed.Err() == nil, NoWatermark); err == nil {
		st.ClosedThrough = max(st.ClosedThrough, mc)
	}
	for f, v := range m {
		start, ok := parseWindowField(f)
		if !ok || start+s.size <= st.ClosedThrough {
			continue
		}
		c, err := decodeCounts(v)
		if err != nil {
			return st, fmt.Errorf("load partition %d window %d: %w", partition, start, err)
		}
		st.Windows[start] = c
	}
	return st, nil
}

// saveScript applies a checkpoint if the stored offset is the expected one
// and no written window is closed. KEYS[1] partition hash. ARGV: expected
// offset ("" = none), offset, max ("" = none), idle-until, owner, window size,
// then start/counts pairs. Returns {1, closed} or {0, stored offset, closed}.
var saveScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'offset') or ''
local closed = redis.call('HGET', KEYS[1], 'closed') or ''
if cur ~= ARGV[1] then return {0, cur, closed} end
local size = tonumber(ARGV[6])
if closed ~= '' then
  local c = tonumber(closed)
  for i = 7, #ARGV, 2 do
    if tonumber(ARGV[i]) + size <= c then return {0, cur, closed} end
  end
end
redis.call('HSET', KEYS[1], 'offset', ARGV[2], 'idle', ARGV[4], 'owner', ARGV[5])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'max', ARGV[3]) end
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[1], 'w:' .. ARGV[i], ARGV[i + 1])
end
return {1, closed}
`)

// Save applies a checkpoint atomically and returns the partition's closed
// bound, so the caller can drop windows the pipeline has closed. It returns a
// *FencedError when the checkpoint is stale.
func (s *RedisStore) Save(ctx context.Context, cp Checkpoint) (closedThrough int64, err error) {
	args := make([]any, 0, 6+2*len(cp.Windows))
	expected := ""
	if cp.ExpectedOffset >= 0 {
		expected = strconv.FormatInt(cp.ExpectedOffset, 10)
	}
	mx := ""
	if cp.MaxEventTime != NoWatermark {
		mx = strconv.FormatInt(cp.MaxEventTime, 10)
	}
	args = append(args, expected, cp.Offset, mx, cp.IdleUntil, cp.Owner, s.size)
	for start, c := range cp.Windows {
		args = append(args, start, encodeCounts(c))
	}
	res, err := saveScript.Run(ctx, s.rdb, []string{s.keys.Partition(cp.Partition)}, args...).Slice()
	if err != nil {
		return 0, fmt.Errorf("save partition %d: %w", cp.Partition, err)
	}
	if len(res) == 2 && res[0] == int64(1) {
		c, _ := parseOptInt(asString(res[1]), true, NoWatermark)
		return c, nil
	}
	if len(res) != 3 {
		return 0, fmt.Errorf("save partition %d: unexpected reply %v", cp.Partition, res)
	}
	stored, _ := parseOptInt(asString(res[1]), true, -1)
	closed, _ := parseOptInt(asString(res[2]), true, NoWatermark)
	return 0, &FencedError{StoredOffset: stored, ClosedThrough: closed}
}

func asString(v any) string {
	s, _ := v.(string)
	return s
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

// Seal closes every window ending at or below through on each of the first
// partitions partitions (so no later Save can change them) and returns their
// partial counts, summed over the partitions, by window start.
func (s *RedisStore) Seal(ctx context.Context, partitions int, through int64) (map[int64]eventtime.Counts, error) {
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

// MarkClosed records closed windows and the new closed bound and watermark
// in one transaction; windows expire after retention.
func (s *RedisStore) MarkClosed(ctx context.Context, windows []ClosedWindow, through, watermark int64, partitions int, retention time.Duration) error {
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
			p.PExpire(ctx, key, retention)
			p.ZAdd(ctx, s.keys.Closed(), redis.Z{Score: float64(w.Start), Member: w.Start})
		}
		p.ZRemRangeByScore(ctx, s.keys.Closed(), "-inf", "("+strconv.FormatInt(through-retention.Milliseconds(), 10))
		p.HSet(ctx, s.keys.Meta(), "closed", through, "watermark", watermark, "partitions", partitions)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark windows closed through %d: %w", through, err)
	}
	return nil
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

// DropClosed deletes the partial counts of windows ending at or below
// through from every partition; they are sealed and summed already.
func (s *RedisStore) DropClosed(ctx context.Context, partitions int, starts []int64) error {
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

// ClosedWindows returns closed windows whose start is in [from, to), newest
// first, at most limit.
func (s *RedisStore) ClosedWindows(ctx context.Context, from, to int64, limit int) ([]ClosedWindow, error) {
	starts, err := s.rdb.ZRevRangeByScore(ctx, s.keys.Closed(), &redis.ZRangeBy{
		Min: strconv.FormatInt(from, 10), Max: "(" + strconv.FormatInt(to, 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("list closed windows: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(starts))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, st := range starts {
			start, _ := strconv.ParseInt(st, 10, 64)
			cmds[i] = p.HGetAll(ctx, s.keys.Window(start))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read closed windows: %w", err)
	}
	out := make([]ClosedWindow, 0, len(starts))
	for i, st := range starts {
		m := cmds[i].Val()
		if len(m) == 0 {
			continue // expired
		}
		start, _ := strconv.ParseInt(st, 10, 64)
		w := ClosedWindow{Start: start}
		for name, v := range m {
			t, ok := model.LookupVehicleType(name)
			if !ok {
				continue
			}
			w.Counts[t.Index()], _ = strconv.ParseInt(v, 10, 64)
		}
		out = append(out, w)
	}
	return out, nil
}

// OpenWindows sums the partial counts of windows not yet closed over the
// first partitions partitions, newest first.
func (s *RedisStore) OpenWindows(ctx context.Context, partitions int, closedThrough int64) ([]ClosedWindow, error) {
	cmds := make([]*redis.MapStringStringCmd, partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HGetAll(ctx, s.keys.Partition(i))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read open windows: %w", err)
	}
	sums := map[int64]eventtime.Counts{}
	for _, c := range cmds {
		for f, v := range c.Val() {
			start, ok := parseWindowField(f)
			if !ok || start+s.size <= closedThrough {
				continue
			}
			cnt, err := decodeCounts(v)
			if err != nil {
				return nil, fmt.Errorf("read open windows: %w", err)
			}
			sum := sums[start]
			for k := range sum {
				sum[k] += cnt[k]
			}
			sums[start] = sum
		}
	}
	out := make([]ClosedWindow, 0, len(sums))
	for start, c := range sums {
		out = append(out, ClosedWindow{Start: start, Counts: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start > out[j].Start })
	return out, nil
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
