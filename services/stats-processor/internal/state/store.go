package state

import (
	"context"
	"errors"
	"fmt"
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
	// LastRecord identifies the record just before Offset as it was read
	// ("" when not recorded): a resume checks that the log still holds
	// it, so a topic recreated and grown past the offset is noticed.
	LastRecord string
	// AddedLater is true for a partition added to the input topic after the
	// pipeline first started (see RecordPartitions): with nothing saved, it
	// is read from its beginning, whatever the start offset says.
	AddedLater bool
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
	// IdleFor is how long the partition counts as idle from the save on,
	// by Redis's clock; 0 when it is not idle. A lease, so that a partition
	// whose owner died stops being idle, and one clock for every instance.
	IdleFor time.Duration
	// Owner names the instance, for operators.
	Owner string
	// Windows are the windows changed since the last save, with their full
	// counts (not increments), so repeating a save is harmless.
	Windows map[int64]eventtime.Counts
	// LastRecord identifies the record just before Offset ("": keep the
	// stored one).
	LastRecord string
}

// PartitionStatus is what the closer reads of every partition.
type PartitionStatus struct {
	// Saved is false when the partition has no saved offset yet.
	Saved bool
	// MaxEventTime is the largest event time saved, or NoWatermark.
	MaxEventTime int64
	// Idle is true while the partition's idle lease runs (Redis's clock).
	Idle bool
}

// ClosedWindow is a window's totals, summed over every partition.
type ClosedWindow struct {
	Start  int64
	Counts eventtime.Counts
	// Partitions is, by vehicle type, the number of input partitions the
	// window's decision of that type's count covered (0: not known, a
	// decision recorded by an older version or read back from a record
	// without the header).
	Partitions [model.NumVehicleTypes]int
	// Uncounted are events that partitions beyond Partitions counted for
	// the window, which its decision, taken and emitted before they were
	// added, cannot include (Redis lost the decision meanwhile, so they
	// were not told the window had closed): the closer reports them late.
	Uncounted eventtime.Counts
}

// Meta is the pipeline's state.
type Meta struct {
	// ClosedThrough: every window ending at or below it is closed.
	ClosedThrough int64
	// Watermark is the pipeline watermark the closer last computed.
	Watermark int64
	// Partitions is the input topic's partition count the closer last saw.
	Partitions int
	// InitialPartitions is the partition count when the pipeline first
	// started (RecordPartitions); 0 when not recorded.
	InitialPartitions int
	// Decided: every window ending at or below it has its final counts
	// recorded (a decision); at least ClosedThrough. Windows in between
	// are decided and not yet marked closed: their records are written,
	// or about to be.
	Decided int64
	// Output are the output topic's end offsets, by partition, after the
	// last closed window's records were written (nil: not recorded).
	// Records beyond them were written by a close whose mark Redis lost.
	Output []int64
}

// RedisStore is the Redis implementation of the processor's state: the
// checkpoint of each partition (Load, Save, in this file), the closing
// protocol (CloseThrough and what the closer reads, close.go) and what
// GET /stats reads (read.go). It is safe for concurrent use.
type RedisStore struct {
	rdb       redis.UniversalClient
	keys      Keys
	size      int64
	retention time.Duration
}

// NewRedisStore returns a store over rdb for one pipeline; closed windows
// stay readable for retention.
func NewRedisStore(rdb redis.UniversalClient, keys Keys, windowSize, retention time.Duration) *RedisStore {
	return &RedisStore{rdb: rdb, keys: keys, size: windowSize.Milliseconds(), retention: retention}
}

// Keys returns the store's key names.
func (s *RedisStore) Keys() Keys { return s.keys }

// Ping checks that Redis answers.
func (s *RedisStore) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// registerScript registers a partition in the pipeline's meta KEYS[1]
// before its worker saves anything: the partition count rises to ARGV[1]
// (the partition's number + 1), so no window is decided without the
// partition from then on. Returns {decided bound, initial partitions}: the
// windows decided already, which the partition must not count any more;
// the bound is "" for a partition the last decision covered (its own
// sealed bound says where it stands: after Redis went back in time, its
// replay classifies each event as the first pass did, by its own
// watermark, while the decided bound would call late what the decision
// counted).
var registerScript = redis.NewScript(`
local parts = tonumber(redis.call('HGET', KEYS[1], 'partitions') or '0')
if tonumber(ARGV[1]) > parts then redis.call('HSET', KEYS[1], 'partitions', ARGV[1]) end
local decided = redis.call('HGET', KEYS[1], 'decided') or redis.call('HGET', KEYS[1], 'closed') or ''
local covered = tonumber(redis.call('HGET', KEYS[1], 'decided_partitions') or '0')
if tonumber(ARGV[1]) <= covered then decided = '' end
return {decided, redis.call('HGET', KEYS[1], 'initial_partitions') or ''}
`)

// Load registers a partition with the pipeline (registerScript) and reads
// its saved state; a partition never saved loads with Saved false and
// empty windows. Its ClosedThrough is the larger of its own closed bound
// and the pipeline's decided one.
func (s *RedisStore) Load(ctx context.Context, partition int) (PartitionState, error) {
	var h *redis.MapStringStringCmd
	var meta *redis.Cmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		meta = registerScript.Eval(ctx, p, []string{s.keys.Meta()}, partition+1)
		p.HSet(ctx, s.keys.Partition(partition), registeredField, 1)
		h = p.HGetAll(ctx, s.keys.Partition(partition))
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
	st.LastRecord = m["last"]
	if sz, ok := m["size"]; ok && sz != strconv.FormatInt(s.size, 10) {
		rec, _ := strconv.ParseInt(sz, 10, 64)
		return st, fmt.Errorf("load partition %d: %w", partition, s.shapeError(rec))
	}
	if mv, _ := meta.Slice(); len(mv) == 2 {
		if mc, err := parseOptInt(asString(mv[0]), true, NoWatermark); err == nil {
			st.ClosedThrough = max(st.ClosedThrough, mc)
		}
		if initial, err := strconv.Atoi(asString(mv[1])); err == nil && initial > 0 {
			st.AddedLater = partition >= initial
		}
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

// registeredField marks a partition hash whose partition Load registered
// with the pipeline (registerScript). Save refuses a hash without it: Redis
// went back to before the registration (a failover or restart that lost
// writes), and the pipeline's meta may no longer count the partition, so
// a window could be decided without it; the worker reloads, registering
// again.
const registeredField = "registered"

// saveScript applies a checkpoint if the partition is registered (Load's
// marker is in its hash), the stored offset is the expected one and no
// written window is closed. KEYS[1] partition hash. ARGV: expected
// offset ("" = none), offset, max ("" = none), idle lease in ms (0: not
// idle; the lease ends that long after now by this server's clock), owner,
// window size, the record before the offset ("" = keep), then start/counts
// pairs. Returns {1, closed} or {0, stored
// offset, closed}.
var saveScript = redis.NewScript(nowLua + `
local cur = redis.call('HGET', KEYS[1], 'offset') or ''
local closed = redis.call('HGET', KEYS[1], 'closed') or ''
local sz = redis.call('HGET', KEYS[1], 'size')
if sz and sz ~= ARGV[6] then return {2, sz} end
if cur ~= ARGV[1] or not redis.call('HGET', KEYS[1], 'registered') then return {0, cur, closed} end
local size = tonumber(ARGV[6])
if closed ~= '' then
  local c = tonumber(closed)
  for i = 8, #ARGV, 2 do
    if tonumber(ARGV[i]) + size <= c then return {0, cur, closed} end
  end
end
local idle = 0
if tonumber(ARGV[4]) > 0 then idle = now_ms() + tonumber(ARGV[4]) end
redis.call('HSET', KEYS[1], 'offset', ARGV[2], 'idle', idle, 'owner', ARGV[5], 'size', ARGV[6])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'max', ARGV[3]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'last', ARGV[7]) end
for i = 8, #ARGV, 2 do
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
	args = append(args, expected, cp.Offset, mx, cp.IdleFor.Milliseconds(), cp.Owner, s.size, cp.LastRecord)
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
	if len(res) == 2 && res[0] == int64(2) {
		rec, _ := strconv.ParseInt(asString(res[1]), 10, 64)
		return 0, fmt.Errorf("save partition %d: %w", cp.Partition, s.shapeError(rec))
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
