package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrShapeChanged is matched by errors saying that the pipeline's recorded
// window size differs from this process's window.size.
var ErrShapeChanged = errors.New("window.size differs from the one the pipeline was started with")

// ShapeError is the window size recorded for the pipeline against the one
// configured.
type ShapeError struct{ Recorded, Configured time.Duration }

func (e *ShapeError) Error() string {
	return fmt.Sprintf("window.size is %v, but this pipeline (its redis.key_prefix and kafka.input_topic) was started with %v: "+
		"start with window.size=%v, or use another redis.key_prefix, or stop every instance and run `stats-processor reset` to start over with the new size",
		e.Configured, e.Recorded, e.Recorded)
}

// Is makes errors.Is(err, ErrShapeChanged) true.
func (e *ShapeError) Is(target error) bool { return target == ErrShapeChanged }

// RecordShape records the pipeline's window size at its first start and
// returns a *ShapeError when another size was recorded before: counts of
// one size cannot be read as another's.
func (s *RedisStore) RecordShape(ctx context.Context) error {
	got, err := s.recordOnce(ctx, "size", s.size)
	if err != nil {
		return fmt.Errorf("record the pipeline's window size: %w", err)
	}
	if rec, err := strconv.ParseInt(got, 10, 64); err == nil && rec != s.size {
		return s.shapeError(rec)
	}
	return nil
}

// recordOnce sets a meta field unless it is set, and returns its value
// (the first one recorded), in one transaction.
func (s *RedisStore) recordOnce(ctx context.Context, field string, value any) (string, error) {
	var got *redis.StringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, s.keys.Meta(), field, value)
		got = p.HGet(ctx, s.keys.Meta(), field)
		return nil
	})
	if err != nil {
		return "", err
	}
	return got.Val(), nil
}

// shapeError is the *ShapeError of a recorded window size (ms) other
// than this store's.
func (s *RedisStore) shapeError(recordedMs int64) *ShapeError {
	return &ShapeError{Recorded: time.Duration(recordedMs) * time.Millisecond, Configured: time.Duration(s.size) * time.Millisecond}
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
	all := make([]int, partitions)
	for i := range all {
		all[i] = i
	}
	return s.StatusesOf(ctx, all)
}

// StatusesOf is Statuses of the partitions named only, in their order, in
// one round trip: what a closer woken by some partitions reads.
func (s *RedisStore) StatusesOf(ctx context.Context, partitions []int) ([]PartitionStatus, int64, error) {
	cmds := make([]*redis.Cmd, len(partitions))
	var clock *redis.Cmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		clock = clockScript.Eval(ctx, p, []string{s.keys.Meta()})
		for i, n := range partitions {
			cmds[i] = statusScript.Eval(ctx, p, []string{s.keys.Partition(n)})
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
	out := make([]PartitionStatus, len(partitions))
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil || len(v) != 3 {
			return nil, 0, fmt.Errorf("partition %d status %v: %w", partitions[i], v, err)
		}
		off, mx := asString(v[0]), asString(v[1])
		st := PartitionStatus{Saved: off != "", Idle: v[2] == int64(1)}
		if st.MaxEventTime, err = parseOptInt(mx, true, NoWatermark); err != nil {
			return nil, 0, fmt.Errorf("partition %d: max %q: %w", partitions[i], mx, err)
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
	d, ok := m["decided"]
	if meta.Decided, err = parseOptInt(d, ok, meta.ClosedThrough); err != nil {
		return meta, fmt.Errorf("read meta: decided %q: %w", d, err)
	}
	meta.Decided = max(meta.Decided, meta.ClosedThrough)
	return meta, nil
}

// RecordPartitions records the input topic's partition count when the
// pipeline first starts (it is kept from then on, until a reset) and
// returns the recorded one: a partition at or above it was added to the
// topic later and is read from its beginning.
func (s *RedisStore) RecordPartitions(ctx context.Context, partitions int) (int, error) {
	got, err := s.recordOnce(ctx, "initial_partitions", partitions)
	if err != nil {
		return 0, fmt.Errorf("record the input's partition count: %w", err)
	}
	n, err := strconv.Atoi(got)
	if err != nil {
		return 0, fmt.Errorf("record the input's partition count: %q: %w", got, err)
	}
	return n, nil
}

// setWatermarkScript records the watermark ARGV[3] and raises the
// partition count to ARGV[4] while the lease (token ARGV[1], owner ARGV[2])
// is held. KEYS: meta, lease. Returns 0 when it is not.
var setWatermarkScript = redis.NewScript(holdsLua + `
if not holds_lease() then return 0 end
local parts = tonumber(redis.call('HGET', KEYS[1], 'partitions') or '0')
redis.call('HSET', KEYS[1], 'partitions', math.max(parts, tonumber(ARGV[4])))
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'watermark', ARGV[3]) end
return 1
`)

// SetWatermark records the pipeline watermark and partition count without
// closing anything (for /stats), as the holder of the lease token; a
// stale holder's call changes nothing (*LeaseLostError).
func (s *RedisStore) SetWatermark(ctx context.Context, token int64, owner string, watermark int64, partitions int) error {
	wm := ""
	if watermark != NoWatermark {
		wm = strconv.FormatInt(watermark, 10)
	}
	n, err := setWatermarkScript.Run(ctx, s.rdb, []string{s.keys.Meta(), s.keys.Closer()}, token, owner, wm, partitions).Int()
	if err != nil {
		return fmt.Errorf("set watermark: %w", err)
	}
	if n == 0 {
		return &LeaseLostError{Step: "set watermark", Token: token}
	}
	return nil
}
