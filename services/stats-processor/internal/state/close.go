package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// The closing protocol, decide before you emit. The closer holds the closer
// lease, whose token is a fencing token (a number that only rises, one per
// holder). A window's final counts are recorded in Redis under that token
// before any record of it is written: the first decision wins, and every
// closer, stale or new, writes only a recorded decision, byte for byte. So a
// key is never written with two values as long as a decision is never
// taken twice, which the steps of CloseThrough keep:
//
//   - a decision is taken only by the lease holder while its lease runs, by
//     Redis's clock (the decide script reads the lease itself);
//   - it covers every partition the pipeline has registered (a worker
//     registers its partition in the pipeline's meta before it saves
//     anything, and the decide script refuses a partition count below it);
//   - it comes after the output topic was read back: records there that
//     Redis does not know of (a decision Redis lost: AOF loss, failover)
//     pin their keys' values, and a window is completed from its partials
//     for the other types, never closed on the evidence of some of them;
//   - a new holder reads the output back only after the longest round a
//     previous holder could still be in (the closer's grace: lease plus
//     write bound, on its own monotonic clock), so a stale holder's write in
//     flight has landed before it looks.
//
// Seal, mark and drop are fenced by the token in every key they touch; a
// refused step ends the round with a *LeaseLostError.

// ErrLeaseLost is matched by every *LeaseLostError: a newer holder of the
// closer lease has fenced this one out, or its lease ran out; nothing was
// decided, marked or dropped by the refused step, and the caller must stop
// closing, give the lease up, and take it again with a token above Fence.
var ErrLeaseLost = errors.New("closer lease lost to a newer holder")

// LeaseLostError says which step refused a token and the highest token the
// refusing key has seen (0 when the lease itself had run out).
type LeaseLostError struct {
	Step         string
	Token, Fence int64
}

func (e *LeaseLostError) Error() string {
	return fmt.Sprintf("%s with token %d refused (fence %d): closer lease lost to a newer holder", e.Step, e.Token, e.Fence)
}

// Is makes errors.Is(err, ErrLeaseLost) true.
func (e *LeaseLostError) Is(target error) bool { return target == ErrLeaseLost }

// ErrNotReady is returned by CloseThrough when a partition no longer lets
// the windows close (its idle lease ran out, or Redis went back to an
// earlier largest event time) since the watermark was computed: nothing was
// decided; compute the watermark again.
var ErrNotReady = errors.New("a partition no longer lets these windows close")

// ErrMorePartitions is returned by CloseThrough when a partition beyond the
// round's partition count has registered (it was added to the topic):
// nothing was decided; read the partition count again.
var ErrMorePartitions = errors.New("more partitions registered than the round covered")

// ErrSealLost is returned by CloseThrough when Redis no longer holds the
// round's seal at its decision (it went back in time after the seal: a
// restart or failover that lost writes), so that a partition may have
// counted more of the sealed windows since: nothing was decided; the next
// round seals again.
var ErrSealLost = errors.New("the round's seal is no longer in Redis")

// ErrDecisionLost is returned by CloseThrough when Redis no longer holds
// the decisions the round wrote (it went back in time meanwhile): nothing
// was marked; the next round reads the written records back and decides
// again from them.
var ErrDecisionLost = errors.New("the round's decisions are no longer in Redis")

// Steps are what CloseThrough needs of the closer between its own steps.
type Steps struct {
	// Check runs before every step with the step's name and ends the round
	// with its error: the round's deadline inside its lease, and in tests
	// the scheduler's pause point.
	Check func(step string) error
	// ReadBack returns the output records written beyond the offsets
	// Redis recorded with the last mark (from: nil when none are
	// recorded), and the output topic's end offsets.
	ReadBack func(from []int64) (records []OutputRecord, end []int64, err error)
	// Emit writes the decided windows' records durably (acks=all) and
	// returns the output topic's end offsets after them.
	Emit func([]ClosedWindow) (outputEnd []int64, err error)
}

// OutputRecord is one VehicleStatistics record read back from the output
// topic: a decided value for one window and type.
type OutputRecord struct {
	Start int64
	Type  int // model.VehicleType.Index()
	Count int64
	// Partitions is the input partition count the record's decision
	// covered, from its header (0: no header).
	Partitions int
}

// Round names the closer and what it closes: every window ending at or
// below Through, over the first Partitions partitions, as the holder of
// the lease Token.
type Round struct {
	Token      int64
	Owner      string
	Partitions int
	// Through is the end of the last window to close (at least the
	// pipeline's decided bound, so pending decisions are emitted).
	Through int64
	// Watermark is the pipeline watermark the round computed, recorded
	// with the mark.
	Watermark int64
	// MaxOutOfOrderness is watermark.max_out_of_orderness in ms: a
	// partition lets a window end through close when its largest event time
	// minus it is at least through, or while its idle lease runs.
	MaxOutOfOrderness int64
}

// CloseThrough closes every window ending at or below r.Through, in these
// steps, each preceded by steps.Check:
//
//  1. seal: each partition's closed bound is raised to Through (no later
//     Save can change those windows) and its partial counts of them are
//     read and summed per window; a partition that does not let windows
//     close any more ends the round (ErrNotReady); once every partition
//     is sealed, a random seal id is recorded in meta;
//  2. read back: the output records beyond the offsets the last mark
//     recorded pin their keys' values (a decision whose mark Redis lost);
//     the new end offsets are recorded with them;
//  3. decide: one script on the pipeline's slot, only while the lease is
//     held and meta still holds the round's seal id (else ErrSealLost:
//     Redis went back to before the seal, and the sums may miss what the
//     partitions counted since), records each window's final counts (its
//     pins over its sums) unless it has a decision already, raises the
//     decided bound, and returns every decision not yet marked;
//  4. emit: the decided windows' records are written, oldest first, but
//     for those the read back found on the topic already (a write that
//     outlived its round's lease, landed before this round read back: it
//     is not written twice), and the output's end offsets read;
//  5. mark: the decisions become closed windows (retained from now), the
//     closed bound rises to the decided one, the output's end offsets are
//     recorded;
//  6. drop: the sealed partial counts are deleted from the partitions.
//
// It returns the windows emitted. Errors of steps.Check, ReadBack and Emit
// are returned as they are; a refused token is a *LeaseLostError; every
// other error is Redis's, wrapped.
func (s *RedisStore) CloseThrough(ctx context.Context, r Round, steps Steps) ([]ClosedWindow, error) {
	if err := steps.Check("seal"); err != nil {
		return nil, err
	}
	partials, err := s.seal(ctx, r.Token, r.Partitions, r.Through, r.MaxOutOfOrderness)
	if err != nil {
		return nil, err
	}
	sums := sumPartials(partials)
	if err := steps.Check("read back"); err != nil {
		return nil, err
	}
	meta, sealID, err := s.recordSeal(ctx)
	if err != nil {
		return nil, err
	}
	records, end, err := steps.ReadBack(meta.Output)
	if err != nil {
		return nil, err
	}
	if err := s.pin(ctx, r, records, end); err != nil {
		return nil, err
	}
	if err := steps.Check("decide"); err != nil {
		return nil, err
	}
	decided, err := s.decide(ctx, r, sealID, sums)
	if err != nil {
		return nil, err
	}
	uncounted(decided, partials)
	if err := steps.Check("emit"); err != nil {
		return nil, err
	}
	out, err := steps.Emit(unwritten(decided, records))
	if err != nil {
		return nil, err
	}
	if err := steps.Check("mark"); err != nil {
		return nil, err
	}
	if err := s.markClosed(ctx, r, decided, out); err != nil {
		return nil, err
	}
	if err := steps.Check("drop"); err != nil {
		return decided, err
	}
	sealed := make([]int64, 0, len(sums))
	for start := range sums {
		sealed = append(sealed, start)
	}
	return decided, s.dropClosed(ctx, r.Token, r.Partitions, sealed)
}

// sealScript raises a partition's closed bound to ARGV[2] and returns
// {1, start, counts, start, counts, ...} for every window ending at or below
// it; {0, fence} when the token ARGV[1] is fenced out; {2} when the
// partition does not let windows through ARGV[2] close: neither its largest
// event time minus the out-of-orderness ARGV[4] reaches ARGV[2], nor does
// its idle lease run (by this server's clock), nor was it sealed through
// there before. KEYS[1] partition hash, ARGV[3] window size.
var sealScript = redis.NewScript(nowLua + fenceLua + `
local through = tonumber(ARGV[2])
local closed = redis.call('HGET', KEYS[1], 'closed')
if not closed or tonumber(closed) < through then
  local mx = redis.call('HGET', KEYS[1], 'max')
  local idle = tonumber(redis.call('HGET', KEYS[1], 'idle') or '0')
  local ready = (mx and tonumber(mx) - tonumber(ARGV[4]) >= through) or idle > now_ms()
  if not ready then return {2} end
end
if not fence_ok() then return {0, fence_seen()} end
local size = tonumber(ARGV[3])
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
// partial counts, by partition and window start.
func (s *RedisStore) seal(ctx context.Context, token int64, partitions int, through, ooo int64) ([]map[int64]eventtime.Counts, error) {
	cmds := make([]*redis.Cmd, partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = sealScript.Eval(ctx, p, []string{s.keys.Partition(i)}, token, through, s.size, ooo)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal windows through %d: %w", through, err)
	}
	partials := make([]map[int64]eventtime.Counts, partitions)
	var lost *LeaseLostError
	notReady := -1
	for i, c := range cmds {
		res, err := c.Slice()
		if err != nil || len(res) == 0 {
			return nil, fmt.Errorf("seal partition %d: %v %w", i, res, err)
		}
		switch res[0] {
		case int64(0):
			f, _ := res[1].(int64)
			if lost == nil || f > lost.Fence {
				lost = &LeaseLostError{Step: fmt.Sprintf("seal of partition %d", i), Token: token, Fence: f}
			}
			continue
		case int64(2):
			notReady = i
			continue
		}
		partials[i] = make(map[int64]eventtime.Counts, (len(res)-1)/2)
		for j := 1; j+1 < len(res); j += 2 {
			start, err := strconv.ParseInt(asString(res[j]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("seal partition %d: window %v: %w", i, res[j], err)
			}
			if partials[i][start], err = decodeCounts(asString(res[j+1])); err != nil {
				return nil, fmt.Errorf("seal partition %d: %w", i, err)
			}
		}
	}
	if lost != nil {
		return nil, lost
	}
	if notReady >= 0 {
		return nil, fmt.Errorf("seal windows through %d: partition %d: %w", through, notReady, ErrNotReady)
	}
	return partials, nil
}

// recordSeal records a new seal id in meta, once every partition is sealed,
// and reads meta in the same round trip: the decide script acts only while
// meta still holds that id. A rollback to before the seal (all of Redis,
// or the meta's node) loses the id with it; a random id (not a counter)
// cannot come back by another round's seal.
func (s *RedisStore) recordSeal(ctx context.Context) (Meta, string, error) {
	id := strconv.FormatUint(rand.Uint64(), 36)
	var all *redis.MapStringStringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.keys.Meta(), "seal", id)
		all = p.HGetAll(ctx, s.keys.Meta())
		return nil
	})
	if err != nil {
		return Meta{}, "", fmt.Errorf("record the seal: %w", err)
	}
	meta, err := parseMeta(all.Val())
	return meta, id, err
}

// sumPartials sums sealed partial counts over the partitions, by window
// start.
func sumPartials(partials []map[int64]eventtime.Counts) map[int64]eventtime.Counts {
	sums := map[int64]eventtime.Counts{}
	for _, p := range partials {
		for start, c := range p {
			sum := sums[start]
			for k := range sum {
				sum[k] += c[k]
			}
			sums[start] = sum
		}
	}
	return sums
}

// uncounted sets each decided window's Uncounted: by type, the events the
// sealed partial counts hold that its decision cannot include. A decision
// is the sum of the partials, unless a record on the output topic pinned
// it: a decision emitted and then lost by Redis (a failover or restart
// that lost writes), taken over the partitions its record's header names
// (all when it has none). The partitions beyond those (added later, not
// told the window had closed) counted the window: all their events are
// late. The covered partitions' sum may exceed the record's value too: an
// idle partition took a straggler in before the window was sealed again;
// the excess is late. (It may also fall short of it, while a partition
// whose idle lease the rollback brought back still replays: the events it
// has yet to count are in the record, and late when it reaches them.)
func uncounted(decided []ClosedWindow, partials []map[int64]eventtime.Counts) {
	for i := range decided {
		w := &decided[i]
		for t, n := range w.Counts {
			covered := w.Partitions[t]
			if covered <= 0 || covered > len(partials) {
				covered = len(partials)
			}
			var in, beyond int64
			for p, c := range partials {
				if p < covered {
					in += c[w.Start][t]
				} else {
					beyond += c[w.Start][t]
				}
			}
			w.Uncounted[t] = beyond + max(0, in-n)
		}
	}
}

// unwritten returns the decided windows with only the counts whose
// records the read back did not find on the output topic (the same key,
// value and partition count); windows with none left are left out.
func unwritten(decided []ClosedWindow, found []OutputRecord) []ClosedWindow {
	on := make(map[OutputRecord]bool, len(found))
	for _, r := range found {
		on[r] = true
	}
	var out []ClosedWindow
	for _, w := range decided {
		rest, left := w, false
		for t, n := range w.Counts {
			if n != 0 && on[OutputRecord{Start: w.Start, Type: t, Count: n, Partitions: w.Partitions[t]}] {
				rest.Counts[t] = 0
			}
			left = left || rest.Counts[t] != 0
		}
		if left {
			out = append(out, rest)
		}
	}
	return out
}

// pinScript records output records Redis did not know of. KEYS: meta,
// lease, pins, decisions. ARGV: token, owner, window size, the output's end
// offsets, then per record its start, type index, count and the partition
// count its decision covered (0: unknown). A record of a window marked
// closed or decided already is compared, not pinned (the number of
// differing ones is returned: a key written with two values, which the
// protocol excludes); otherwise the first pin of a key wins, with its
// partition count as "<start>:<type>:p". Returns -1 when the lease is not
// held.
var pinScript = redis.NewScript(holdsLua + `
if not holds_lease() then return -1 end
local size = tonumber(ARGV[3])
local closed = tonumber(redis.call('HGET', KEYS[1], 'closed') or '-inf') or -math.huge
local differ = 0
for i = 5, #ARGV, 4 do
  local start = ARGV[i]
  local dec = redis.call('HGET', KEYS[4], start)
  if dec then
    local n = 0
    local want = tonumber(ARGV[i + 1]) + 1
    for v in string.gmatch(dec, '[^,]+') do
      n = n + 1
      if n == want and v ~= ARGV[i + 2] then differ = differ + 1 end
    end
  elseif tonumber(start) + size > closed then
    redis.call('HSETNX', KEYS[3], start .. ':' .. ARGV[i + 1], ARGV[i + 2])
    if ARGV[i + 3] ~= '0' then redis.call('HSETNX', KEYS[3], start .. ':' .. ARGV[i + 1] .. ':p', ARGV[i + 3]) end
  end
end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'output', ARGV[4]) end
return differ
`)

// pin records the output records read back beyond the last mark's offsets,
// and the output's end offsets after them (step 2 of CloseThrough).
func (s *RedisStore) pin(ctx context.Context, r Round, records []OutputRecord, end []int64) error {
	if len(records) == 0 && end == nil {
		return nil
	}
	args := make([]any, 0, 4+4*len(records))
	args = append(args, r.Token, r.Owner, s.size, encodeOffsets(end))
	for _, rec := range records {
		args = append(args, rec.Start, rec.Type, rec.Count, rec.Partitions)
	}
	n, err := pinScript.Run(ctx, s.rdb, []string{s.keys.Meta(), s.keys.Closer(), s.keys.Pins(), s.keys.Decisions()}, args...).Int()
	if err != nil {
		return fmt.Errorf("record output read back: %w", err)
	}
	if n < 0 {
		return &LeaseLostError{Step: "read back", Token: r.Token}
	}
	if n > 0 {
		return fmt.Errorf("record output read back: %d record(s) on the output topic differ from the recorded decision", n)
	}
	return nil
}

// decideScript records the final counts of windows. KEYS: meta, lease,
// pins, decisions. ARGV: token, owner, through, window size, partitions,
// the round's seal id, then per window its start and counts ("c,c,c,c,c").
// It refuses unless the lease is held ({-1}), the recorded window size is
// ARGV[4] ({-2, size}), no more partitions than ARGV[5] are registered
// ({-3, partitions}), and meta's seal is ARGV[6] ({-4}).
// Each window ending above the decided bound and at or below through gets
// its pins over its sums as its decision, unless it has one; pins of
// windows no sum names become decisions alone. With each decision goes
// "<start>:p", the partition count each type's count covers: ARGV[5] for a
// sum, the pinned record's for a pin (0 when unknown). Then the decided
// bound rises to through and every decision not yet marked is returned:
// {1, field, value, ...}.
var decideScript = redis.NewScript(holdsLua + `
if not holds_lease() then return {-1} end
local size = tonumber(ARGV[4])
local rec = redis.call('HGET', KEYS[1], 'size')
if rec and tonumber(rec) ~= size then return {-2, tonumber(rec)} end
local parts = tonumber(redis.call('HGET', KEYS[1], 'partitions') or '0')
if parts > tonumber(ARGV[5]) then return {-3, parts} end
if redis.call('HGET', KEYS[1], 'seal') ~= ARGV[6] then return {-4} end
local through = tonumber(ARGV[3])
local decided = redis.call('HGET', KEYS[1], 'decided') or redis.call('HGET', KEYS[1], 'closed')
decided = tonumber(decided or '-inf') or -math.huge
local function split(s)
  local t = {}
  for v in string.gmatch(s, '[^,]+') do t[#t + 1] = tonumber(v) end
  return t
end
local todo = {}
for i = 7, #ARGV, 2 do todo[ARGV[i]] = split(ARGV[i + 1]) end
local pins = redis.call('HGETALL', KEYS[3])
local used = {}
local pinned, pinParts = {}, {}
for i = 1, #pins, 2 do
  local start, typ, p = string.match(pins[i], '^(-?%d+):(%d+)(:?p?)$')
  local s = tonumber(start)
  if s and s + size <= through then
    local t = tonumber(typ) + 1
    if p == '' then
      if not todo[start] then todo[start] = {0, 0, 0, 0, 0} end
      todo[start][t] = tonumber(pins[i + 1])
      pinned[start] = pinned[start] or {}
      pinned[start][t] = true
    else
      pinParts[start] = pinParts[start] or {}
      pinParts[start][t] = pins[i + 1]
    end
    used[#used + 1] = pins[i]
  end
end
local parts = {}
for start, ts in pairs(pinned) do
  parts[start] = {ARGV[5], ARGV[5], ARGV[5], ARGV[5], ARGV[5]}
  for t in pairs(ts) do parts[start][t] = (pinParts[start] or {})[t] or '0' end
end
for start, c in pairs(todo) do
  local s = tonumber(start)
  if s + size > decided and s + size <= through and redis.call('HEXISTS', KEYS[4], start) == 0 then
    local total = 0
    for _, v in ipairs(c) do total = total + v end
    if total > 0 then
      local p = parts[start] or {ARGV[5], ARGV[5], ARGV[5], ARGV[5], ARGV[5]}
      redis.call('HSET', KEYS[4], start, table.concat(c, ','), start .. ':p', table.concat(p, ','))
    end
  end
end
if #used > 0 then redis.call('HDEL', KEYS[3], unpack(used)) end
if through > decided then redis.call('HSET', KEYS[1], 'decided', ARGV[3], 'decided_partitions', ARGV[5]) end
local out = {1}
local all = redis.call('HGETALL', KEYS[4])
for i = 1, #all do out[#out + 1] = all[i] end
return out
`)

// decide records the windows' final counts (step 3 of CloseThrough) and
// returns every decision not yet marked, oldest first.
func (s *RedisStore) decide(ctx context.Context, r Round, sealID string, sums map[int64]eventtime.Counts) ([]ClosedWindow, error) {
	args := make([]any, 0, 6+2*len(sums))
	args = append(args, r.Token, r.Owner, r.Through, s.size, r.Partitions, sealID)
	for start, c := range sums {
		args = append(args, start, encodeCounts(c))
	}
	res, err := decideScript.Run(ctx, s.rdb, []string{s.keys.Meta(), s.keys.Closer(), s.keys.Pins(), s.keys.Decisions()}, args...).Slice()
	if err != nil || len(res) == 0 {
		return nil, fmt.Errorf("decide windows through %d: %v %w", r.Through, res, err)
	}
	switch res[0] {
	case int64(-1):
		return nil, &LeaseLostError{Step: "decide", Token: r.Token}
	case int64(-2):
		rec, _ := res[1].(int64)
		return nil, s.shapeError(rec)
	case int64(-3):
		return nil, fmt.Errorf("decide windows through %d over %d partitions: %v registered: %w", r.Through, r.Partitions, res[1], ErrMorePartitions)
	case int64(-4):
		return nil, fmt.Errorf("decide windows through %d: %w", r.Through, ErrSealLost)
	}
	var out []ClosedWindow
	covers := map[int64]string{}
	for j := 1; j+1 < len(res); j += 2 {
		f := asString(res[j])
		if st, ok := strings.CutSuffix(f, ":p"); ok {
			start, err := strconv.ParseInt(st, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("decision %v: %w", res[j], err)
			}
			covers[start] = asString(res[j+1])
			continue
		}
		start, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("decision %v: %w", res[j], err)
		}
		c, err := decodeCounts(asString(res[j+1]))
		if err != nil {
			return nil, fmt.Errorf("decision %d: %w", start, err)
		}
		out = append(out, ClosedWindow{Start: start, Counts: c})
	}
	for i := range out {
		// Missing for a decision recorded by an older version: the
		// partition counts are then unknown (0).
		for t, f := range strings.Split(covers[out[i].Start], ",") {
			if t < len(out[i].Partitions) {
				out[i].Partitions[t], _ = strconv.Atoi(f)
			}
		}
	}
	slices.SortFunc(out, func(a, b ClosedWindow) int { return cmp.Compare(a.Start, b.Start) })
	return out, nil
}

// markScript records emitted decisions as closed windows. KEYS: meta,
// closed set, closed-at set, decisions, then one window hash per window.
// ARGV: token, through, watermark, partitions, retention ms, window size,
// the output's end offsets ("" to keep them), the number k of vehicle
// types, their k names, then per window its start and k counts. Unless
// every window above the closed bound is a recorded decision with these
// counts, and the decided bound reaches through, it marks nothing and
// returns -2 (Redis lost decisions: it went back in time). A window at
// or below the stored closed bound is left as it is; the window's decision
// is deleted (it is a closed window now); the closed bound rises to through
// (it never goes down); windows closed longer than the retention ago (by
// Redis's clock) leave the sets. Returns the number of windows written, or
// -1 when the token is fenced out.
var markScript = redis.NewScript(nowLua + fenceLua + `
if not fence_ok() then return -1 end
local through = tonumber(ARGV[2])
local closed = redis.call('HGET', KEYS[1], 'closed')
if closed then closed = tonumber(closed) end
local size = tonumber(ARGV[6])
local k = tonumber(ARGV[8])
local decided = tonumber(redis.call('HGET', KEYS[1], 'decided') or '')
if not decided or decided < through then return -2 end
local pos = 9 + k
for w = 5, #KEYS do
  local start = tonumber(ARGV[pos])
  if not closed or start + size > closed then
    local c = {}
    for i = 1, k do c[i] = ARGV[pos + i] end
    if redis.call('HGET', KEYS[4], ARGV[pos]) ~= table.concat(c, ',') then return -2 end
  end
  pos = pos + k + 1
end
local now = now_ms()
local written = 0
pos = 9 + k
for w = 5, #KEYS do
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
  redis.call('HDEL', KEYS[4], ARGV[pos], ARGV[pos] .. ':p')
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
local parts = tonumber(redis.call('HGET', KEYS[1], 'partitions') or '0')
redis.call('HSET', KEYS[1], 'watermark', ARGV[3], 'partitions', math.max(parts, tonumber(ARGV[4])))
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'output', ARGV[7]) end
return written
`)

// markClosed records the emitted decisions as closed windows, raises the
// closed bound to the decided one and records the output's end offsets
// (nil: kept) in one script on the pipeline's slot (step 5).
func (s *RedisStore) markClosed(ctx context.Context, r Round, windows []ClosedWindow, outputEnd []int64) error {
	types := model.VehicleTypes()
	keys := make([]string, 0, 4+len(windows))
	keys = append(keys, s.keys.Meta(), s.keys.Closed(), s.keys.ClosedAt(), s.keys.Decisions())
	args := make([]any, 0, 7+len(types)+len(windows)*(1+len(types)))
	args = append(args, r.Token, r.Through, r.Watermark, r.Partitions, s.retention.Milliseconds(), s.size, encodeOffsets(outputEnd), len(types))
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
		return fmt.Errorf("mark windows closed through %d: %w", r.Through, err)
	}
	if n == -2 {
		return fmt.Errorf("mark windows closed through %d: %w", r.Through, ErrDecisionLost)
	}
	if n < 0 {
		return &LeaseLostError{Step: "mark", Token: r.Token}
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
// from every partition; they are sealed and decided already (step 6).
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
	for i, c := range cmds {
		if n, _ := c.Int(); n < 0 {
			return &LeaseLostError{Step: fmt.Sprintf("drop on partition %d", i), Token: token}
		}
	}
	return nil
}

// ScriptHash returns the SHA1 (hex) by which Redis knows the script of a
// closing step, "seal" or "decide" (EVALSHA's first argument; the SHA1 of
// EVAL's), and "" for any other name: for tests that recognise the steps
// in the processor's traffic to Redis (the end-to-end test that holds a
// decide in a proxy while Redis goes back in time).
func ScriptHash(step string) string {
	switch step {
	case "seal":
		return sealScript.Hash()
	case "decide":
		return decideScript.Hash()
	}
	return ""
}
