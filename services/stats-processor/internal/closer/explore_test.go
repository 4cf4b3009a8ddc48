package closer_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/closer"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// The schedule explorer: the real closer (closer.Closer, every step of its
// rounds), the real state (state.RedisStore's scripts) and the real
// partition-worker steps (state.Load, eventtime.Partition, state.Save)
// run against a real Redis, single and Cluster, under a scheduler that
// picks, from a seed, which of N closers and M workers takes its next step,
// and injects faults between any two steps:
//
//   - a closer paused past its lease (its lease expires, time jumps);
//   - Redis rolled back to an earlier snapshot (taken while nothing runs,
//     so atomic);
//   - a partial output write, a lost write acknowledgement, a slow write
//     that lands later (within the closer's write bound) or never;
//   - a partition added to the input topic;
//   - a closer or worker killed, and started again;
//   - a closer stopped gracefully: it hands the lease over (HandOverRound)
//     while the others run on;
//   - reset, with a closer paused through it (and the output checked per
//     epoch: the input is counted again from its beginning);
//   - rounds woken by named partitions (the holder reads theirs only, the
//     others' statuses from its last full read, possibly stale), any of
//     them, also one beyond the partition count (not in the regressions,
//     whose schedules predate them).
//
// Kafka is the one thing modelled: the input is an in-memory log per
// partition and the output one in-memory partition, so that partial and
// late writes can be placed exactly. After each schedule it checks:
//
//	I1 no output key has two values (within an epoch: between resets);
//	I2 each event is in exactly one emitted count, or was reported late by
//	   the worker that last committed it, and nothing is lost;
//	I3 the pipeline's closed bound only rises between resets;
//	I4 once faults stop, every due window closes within a bound.
//
// A failing schedule prints its seed; -explore.seed=N runs it alone.

var (
	exploreSeed      = flag.Uint64("explore.seed", 0, "run only the schedule with this seed (0: explore)")
	exploreSchedules = flag.Int("explore.schedules", 0, "schedules per backend when exploring (0: as many as -explore.duration allows)")
	exploreDuration  = flag.Duration("explore.duration", 45*time.Second, "explore for this long per backend (make test's budget)")
	exploreVerbose   = flag.Bool("explore.v", false, "log every step of the schedules")
	exploreAll       = flag.Bool("explore.all", true, "combine a Redis rollback with a partition added in one schedule (false: a schedule has one or the other)")
)

const (
	exploreWindow = 20 * time.Second
	exploreTTL    = time.Hour // leases expire only when the scheduler says so
	exploreWrite  = time.Minute
)

func TestIntegrationExplore(t *testing.T) {
	env := testenv.Get(t)
	t.Run("single", func(t *testing.T) {
		rdb, prefix := env.Redis(t)
		explore(t, rdb, prefix, false)
	})
	t.Run("cluster", func(t *testing.T) {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: private.StartRedisCluster(t, 0).Addrs})
		t.Cleanup(func() { rdb.Close() })
		explore(t, rdb, "vs", false)
	})
}

// regressions are schedules that broke an earlier version of the
// decide-before-emit protocol, each with what it found; they pass now.
var regressions = []struct {
	seed    uint64
	cluster bool
	all     bool
	wakes   bool // rounds woken by named partitions (schedules found since they were)
	stops   bool // graceful stops of closers (scheduleOpts.handOver)
	found   string
}{
	{1796417756071577716, false, true, false, false, "a round sealed, Redis went back in time, the round decided from its old sums; replays then called late what the decision counted"},
	{1796417756071577763, false, true, false, false, "the same, another interleaving"},
	{1796426673094670195, false, true, false, false, "a rollback lost a decision emitted before a partition was added; the new partition counted its events for the window, the topic's values (over the old partitions) won, its events neither emitted nor reported late"},
	{1796426673094671171, false, true, false, false, "a rollback lost partition 2's registration while its worker ran on and saved; a window was decided over 2 partitions without its counts"},
	{1796426673094671502, false, true, false, false, "the same, another interleaving"},
	{1796427894996713573, false, true, false, false, "passes: the closer reports late the events of a partition added after a window's decision was emitted and lost"},
	{1796427987227831584, true, true, false, false, "the same, on Cluster"},
	{1796417756071577869, false, true, false, false, "the same: emitted 10, counted 8"},
	{1796417938463470020, true, false, false, false, "Cluster: a round's mark after a rollback marked a decision Redis had lost; the replay then called its event late"},
	{1796417938463470139, true, false, false, false, "the same, another interleaving"},
	{1796417938463470456, true, false, false, false, "the same: emitted 3, counted 0"},
	{1796440719625531272, false, true, true, false, "a first cut of reporting stragglers late (the sealed sum less a pinned decision) under-reported an added partition's events while a covered partition, its idle lease brought back by a rollback, still replayed: emitted 3, counted 6"},
	{1796444313871429041, true, true, true, true, "Cluster: Redis went back to before a round's seal while the round (its holder stopping gracefully) paused before its decision; the decision, taken from the lost seal's sums, raised the decided bound over a window a re-registered partition then counted a straggler in: emitted 0, counted 1 (fixed: the decide script refuses a seal meta no longer holds, ErrSealLost)"},
}

func TestIntegrationExploreRegressions(t *testing.T) {
	env := testenv.Get(t)
	single, prefix := env.Redis(t)
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: private.StartRedisCluster(t, 0).Addrs})
	t.Cleanup(func() { cluster.Close() })
	for _, r := range regressions {
		t.Run(fmt.Sprint(r.seed), func(t *testing.T) {
			rdb := redis.UniversalClient(single)
			if r.cluster {
				rdb = cluster
			}
			if strings.HasPrefix(r.found, "OPEN") {
				t.Skip("an open case of the design doc's explorer section: " + r.found)
			}
			if err := runSchedule(t, rdb, fmt.Sprintf("%s-%d", prefix, r.seed%1000), r.seed, scheduleOpts{all: r.all, wakes: r.wakes, handOver: r.stops}); err != nil {
				t.Fatalf("seed %d (found: %s): %v", r.seed, r.found, err)
			}
		})
	}
}

// scheduleOpts choose the fault classes of a schedule.
type scheduleOpts struct {
	all        bool // rollbacks and added partitions may meet in one schedule
	noRollback bool
	wakes      bool // closers' rounds may be woken by named partitions
	// handOver adds graceful stops of closers, drawn from a random
	// source of their own: a seed found without them (regressions)
	// replays the same schedule.
	handOver bool
}

func explore(t *testing.T, rdb redis.UniversalClient, prefix string, noRollback bool) {
	opts := scheduleOpts{all: *exploreAll, noRollback: noRollback, wakes: true, handOver: true}
	if *exploreSeed != 0 {
		if err := runSchedule(t, rdb, prefix, *exploreSeed, opts); err != nil {
			t.Fatalf("seed %d: %v", *exploreSeed, err)
		}
		return
	}
	start := time.Now()
	base := uint64(time.Now().UnixNano())
	n, failed := 0, 0
	lateBefore, handedBefore := schedulesWithUncounted.Load(), leasesHanded.Load()
	for i := uint64(1); ; i++ {
		if *exploreSchedules > 0 {
			if n >= *exploreSchedules {
				break
			}
		} else if time.Since(start) > *exploreDuration {
			break
		}
		seed := base + i
		n++
		late := schedulesWithUncounted.Load()
		err := runSchedule(t, rdb, fmt.Sprintf("%s-%d", prefix, i%64), seed, opts)
		if schedulesWithUncounted.Load() != late {
			t.Logf("seed %d: the closer reported late events a lost decision could not include", seed)
		}
		if err != nil {
			failed++
			t.Errorf("seed %d failed (rerun: go test -run 'TestIntegrationExplore$/%s' -explore.seed=%d ./services/stats-processor/internal/closer): %v",
				seed, t.Name()[strings.LastIndex(t.Name(), "/")+1:], seed, err)
			if failed >= 5 {
				break
			}
		}
		if n%1000 == 0 {
			t.Logf("explored %d schedules in %s, %d failed", n, time.Since(start).Round(time.Second), failed)
		}
	}
	t.Logf("explored %d schedules in %s: %d failed (in %d, the closer reported late events a lost decision could not include; %d graceful stops handed the lease over)",
		n, time.Since(start).Round(time.Millisecond), failed, schedulesWithUncounted.Load()-lateBefore, leasesHanded.Load()-handedBefore)
}

// leasesHanded counts the graceful stops that ended in a transfer of the
// lease (not a release): that the path runs.
var leasesHanded atomic.Int64

// schedulesWithUncounted counts the schedules whose check found events the
// closer reported late (state.ClosedWindow.Uncounted): that the path runs.
var schedulesWithUncounted atomic.Int64

// event is one input record.
type event struct {
	t   int64
	typ model.VehicleType
}

// world is one schedule's system: Redis, the modelled Kafka, the actors.
type world struct {
	t      testing.TB
	rnd    *rand.Rand
	rdb    redis.UniversalClient
	keys   state.Keys
	prefix string
	now    time.Time // the virtual monotonic clock every closer reads
	et     eventtime.Config
	log    []string

	input      [][]event // per partition
	partitions int       // as the brokers report it

	outMu    sync.Mutex
	output   []kafka.Message // the output topic's one partition
	inflight []pendingWrite  // slow writes that may still land
	epochAt  []int           // output offset where each epoch (between resets) starts
	// uncounted["<TYPE>:<start>"] is the closer's last report of events a
	// window's decision could not include (state.ClosedWindow.Uncounted),
	// in this epoch.
	uncounted map[string]int64

	closers []*closerActor
	workers map[int]*workerActor // by partition
	stale   []*workerActor       // paused workers whose partition moved on; they resume
	// verdicts[p][offset] is the last committed verdict of each event.
	verdicts []map[int]eventtime.Verdict
	closed   int64 // the highest closed bound seen in this epoch (I3)
	faults   bool
	snaps    []snapshot
	nextID   int
	// sinkFault is what the next output write does: 0 lands, 1 lands in
	// part, 2 lands and loses its ack, 3 is slow.
	sinkFault int
	sinceJump int // fair steps since time last jumped
	// noRollback and noAdd leave a fault class out of the schedule: unless
	// -explore.all, a schedule has rollbacks or added partitions, not both.
	noRollback, noAdd bool
	// wakes, when set, draws the partitions that wake each closer round
	// (none: the tick's full read), from a source of its own so that the
	// other draws of a seed stay as they were.
	wakes *rand.Rand
	// hrnd draws the graceful stops (nil: none).
	hrnd *rand.Rand
}

type pendingWrite struct {
	msgs   []kafka.Message
	landBy time.Time
}

func runSchedule(t testing.TB, rdb redis.UniversalClient, prefix string, seed uint64, opts scheduleOpts) error {
	ctx := context.Background()
	w := &world{
		t: t, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), rdb: rdb, prefix: prefix,
		keys: state.NewKeys(prefix, "vehicles"), now: time.Unix(1_000_000, 0), workers: map[int]*workerActor{},
		et: eventtime.DefaultConfig(), epochAt: []int{0}, closed: eventtime.NoWatermark, uncounted: map[string]int64{},
	}
	w.et.Window.Size = exploreWindow
	w.et.Watermark.IdleTimeout = 30 * time.Second
	if !opts.all {
		w.noRollback = w.rnd.IntN(2) == 0
		w.noAdd = !w.noRollback
	}
	w.noRollback = w.noRollback || opts.noRollback
	if opts.wakes {
		w.wakes = rand.New(rand.NewPCG(seed^0x2545f4914f6cdd1d, seed))
	}
	if opts.handOver {
		w.hrnd = rand.New(rand.NewPCG(seed^0x5bd1e995, seed))
	}
	if err := w.clear(ctx); err != nil {
		return err
	}
	defer w.stopAll()
	w.makeInput(2 + w.rnd.IntN(2))
	store := w.store()
	if err := store.RecordShape(ctx); err != nil {
		return err
	}
	if _, err := store.RecordPartitions(ctx, w.partitions); err != nil {
		return err
	}
	if err := store.RecordOutput(ctx, w.partitions, []int64{0}); err != nil {
		return err
	}
	for p := range w.partitions {
		w.startWorker(p)
	}
	for range 1 + w.rnd.IntN(2) {
		w.startCloser()
	}
	steps := 60 + w.rnd.IntN(80)
	w.faults = true
	for i := 0; i < steps; i++ {
		if err := w.step(ctx); err != nil {
			return w.fail(err)
		}
	}
	// I4: faults stop; every window due closes within a bound. Stale
	// workers are gone by then (their generation ended).
	w.faults = false
	for _, a := range w.stale {
		a.kill()
	}
	w.landOrDropAll()
	for i := 0; ; i++ {
		if len(w.runningClosers()) == 0 { // a closer stopping gracefully ends
			w.startCloser()
		}
		if i > 400 {
			meta, _ := w.store().ReadMeta(ctx)
			sts, _, _ := w.store().Statuses(ctx, w.partitions)
			var why []string
			for _, c := range w.liveClosers() {
				why = append(why, fmt.Sprintf("%s: %v", c.name, c.c.Check(ctx)))
			}
			return w.fail(fmt.Errorf("I4: windows still open %d rounds after the faults stopped: meta %+v, statuses %+v, closers %v", i, meta, sts, why))
		}
		done, err := w.settled(ctx)
		if err != nil {
			return w.fail(err)
		}
		if done {
			break
		}
		if err := w.fairStep(ctx, i); err != nil {
			return w.fail(err)
		}
	}
	return w.fail(w.check(ctx))
}

func (w *world) fail(err error) error {
	if err == nil {
		return nil
	}
	if *exploreVerbose {
		return fmt.Errorf("%w\nschedule:\n  %s", err, strings.Join(w.log, "\n  "))
	}
	tail := w.log
	if len(tail) > 40 {
		tail = tail[len(tail)-40:]
	}
	return fmt.Errorf("%w\nlast steps of the schedule (-explore.v for all):\n  %s", err, strings.Join(tail, "\n  "))
}

func (w *world) note(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf(format, args...))
}

func (w *world) store() *state.RedisStore {
	return state.NewRedisStore(w.rdb, w.keys, exploreWindow, time.Hour)
}

// clear deletes the prefix's keys, fences included.
func (w *world) clear(ctx context.Context) error {
	keys, err := w.store().PipelineKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := w.rdb.Del(ctx, k).Err(); err != nil {
			return err
		}
	}
	return nil
}

// makeInput writes each partition's events: times rise by up to 4 s, about
// one in ten is up to 30 s behind (some of them late), a day ago (so the
// all-idle watermark, on Redis's real clock, passes them all).
func (w *world) makeInput(partitions int) {
	w.partitions = partitions
	for range partitions {
		w.addInputPartition()
	}
}

func (w *world) addInputPartition() {
	base := time.Now().Add(-24*time.Hour).UnixMilli() / exploreWindow.Milliseconds() * exploreWindow.Milliseconds()
	n := 10 + w.rnd.IntN(30)
	evs := make([]event, n)
	t := base + w.rnd.Int64N(5_000)
	for i := range evs {
		t += w.rnd.Int64N(4_000)
		et := t
		if w.rnd.IntN(10) == 0 {
			et -= w.rnd.Int64N(30_000)
		}
		evs[i] = event{t: et, typ: model.VehicleTypes()[w.rnd.IntN(2)]}
	}
	w.input = append(w.input, evs)
	w.verdicts = append(w.verdicts, map[int]eventtime.Verdict{})
}

// actor is a goroutine that runs one step at a time when the scheduler
// grants it, and tells where it stopped.
type actor struct {
	name   string
	grant  chan struct{}
	parked chan string // the step it stopped before; closed when it ends
	ctx    context.Context
	cancel context.CancelFunc
	at     string
	done   bool
}

func newActor(name string) *actor {
	ctx, cancel := context.WithCancel(context.Background())
	return &actor{name: name, grant: make(chan struct{}), parked: make(chan string), ctx: ctx, cancel: cancel}
}

// yield parks the actor before step until granted; false when it is killed.
func (a *actor) yield(step string) bool {
	select {
	case a.parked <- step:
	case <-a.ctx.Done():
		return false
	}
	select {
	case <-a.grant:
		return true
	case <-a.ctx.Done():
		return false
	}
}

// run lets the actor take its next step and waits until it parks again.
func (a *actor) run() {
	if a.done {
		return
	}
	a.grant <- struct{}{}
	step, ok := <-a.parked
	if !ok {
		a.done = true
		return
	}
	a.at = step
}

// errKilled unwinds a killed actor from wherever it was parked: a kill -9
// runs no more of its code.
var errKilled = errors.New("killed")

// start starts body and waits until it parks for the first time.
func (a *actor) start(body func()) {
	go func() {
		defer close(a.parked)
		defer func() {
			if r := recover(); r != nil && r != errKilled {
				panic(r)
			}
		}()
		body()
	}()
	step, ok := <-a.parked
	a.at, a.done = step, !ok
}

func (a *actor) kill() { a.cancel(); a.done = true }

type closerActor struct {
	*actor
	c        *closer.Closer
	stopping bool // stopped gracefully: it hands the lease over, then ends
}

func (w *world) startCloser() {
	w.nextID++
	a := &closerActor{actor: newActor(fmt.Sprintf("closer-%d", w.nextID))}
	m, _ := metrics.New(prometheus.NewRegistry())
	a.c = closer.New(w.et, w.store(), (*outTopics)(w), (*outSink)(w), m, slog.New(slog.NewTextHandler(io.Discard, nil)), closer.Options{
		InstanceID: a.name, LeaseTTL: exploreTTL, WriteBound: exploreWrite,
		Now: func() time.Time { return w.now },
		Pause: func(ctx context.Context, step string) {
			if !a.yield(step) {
				panic(errKilled)
			}
		},
		Closed: func(cw state.ClosedWindow) {
			w.outMu.Lock()
			defer w.outMu.Unlock()
			w.note("%s closed window %d: %v over %v partitions, uncounted %v", a.name, cw.Start, cw.Counts, cw.Partitions, cw.Uncounted)
			for _, t := range model.VehicleTypes() {
				w.uncounted[fmt.Sprintf("%s:%d", t, cw.Start)] = cw.Uncounted[t.Index()]
			}
		},
	})
	w.note("start %s", a.name)
	a.start(func() {
		for a.yield("round") {
			woken := w.woken()
			if !a.stopping {
				a.c.Round(a.ctx, woken...)
			} else if a.c.HandOverRound(a.ctx, woken...) {
				w.noteHanded(a.name)
				return
			}
		}
	})
	w.closers = append(w.closers, a)
}

// woken is the partitions that wake a closer's round, ascending: none (a
// tick) half the time, else one or two of the partitions, or one beyond
// them (added to the topic and not counted yet).
func (w *world) woken() []int {
	if w.wakes == nil || w.wakes.IntN(2) == 0 {
		return nil
	}
	var named state.Woken
	for range 1 + w.wakes.IntN(2) {
		named.Add(w.wakes.IntN(w.partitions + 1))
	}
	w.note("woken by %v", named.Partitions())
	return named.Partitions()
}

// noteHanded counts a graceful stop of closer name that handed the lease
// over: meta records the handover of the lease's token, to another owner.
func (w *world) noteHanded(name string) {
	ctx := context.Background()
	lease, _ := w.rdb.Get(ctx, w.keys.Closer()).Result()
	handed, _ := w.rdb.HGet(ctx, w.keys.Meta(), "handed").Result()
	tok, owner, _ := strings.Cut(lease, ":")
	if owner != "" && owner != name && strings.HasPrefix(handed, tok+":") {
		leasesHanded.Add(1)
	}
}

// runningClosers are the live closers not stopping.
func (w *world) runningClosers() []*closerActor {
	var out []*closerActor
	for _, c := range w.liveClosers() {
		if !c.stopping {
			out = append(out, c)
		}
	}
	return out
}

func (w *world) liveClosers() []*closerActor {
	var out []*closerActor
	for _, c := range w.closers {
		if !c.done {
			out = append(out, c)
		}
	}
	return out
}

type workerActor struct {
	*actor
	partition int
}

// startWorker starts the worker of partition p: load (registering the
// partition), then count and save in turns, as the consumer's worker does.
func (w *world) startWorker(p int) {
	w.nextID++
	a := &workerActor{actor: newActor(fmt.Sprintf("worker-%d.%d", p, w.nextID)), partition: p}
	w.workers[p] = a
	w.note("start %s", a.name)
	store := w.store()
	a.start(func() {
		var (
			part    *eventtime.Partition
			offset  int
			exp     int64
			pending map[int]eventtime.Verdict
		)
		load := func() bool {
			var st state.PartitionState
			for {
				if !a.yield("load") {
					return false
				}
				var err error
				if st, err = store.Load(a.ctx, p); err == nil {
					break
				}
			}
			part = eventtime.NewPartition(w.et)
			part.Restore(st.MaxEventTime, st.ClosedThrough, st.Windows)
			offset, exp = 0, -1
			if st.Saved {
				offset, exp = int(st.Offset), st.Offset
			}
			pending = map[int]eventtime.Verdict{}
			return true
		}
		if !load() {
			return
		}
		for {
			if !a.yield("count") {
				return
			}
			evs := w.input[p]
			for range 1 + w.rnd.IntN(4) {
				if offset >= len(evs) {
					break
				}
				pending[offset] = part.Add(evs[offset].t, evs[offset].typ)
				offset++
			}
			if !a.yield("save") {
				return
			}
			cp := state.Checkpoint{Partition: p, ExpectedOffset: exp, Offset: int64(offset), MaxEventTime: part.MaxEventTime(),
				Owner: a.name, Windows: map[int64]eventtime.Counts{}}
			if offset >= len(evs) {
				cp.IdleFor = time.Hour // at its end: idle (the scheduler expires it)
			}
			part.Dirty(func(start int64, c eventtime.Counts) { cp.Windows[start] = c })
			closed, err := store.Save(a.ctx, cp)
			if err != nil {
				if !load() {
					return
				}
				continue
			}
			for off, v := range pending {
				w.verdicts[p][off] = v
			}
			clear(pending)
			part.MarkSaved()
			part.Seal(closed)
			exp = int64(offset)
		}
	})
}

func (w *world) stopAll() {
	for _, c := range w.closers {
		c.kill()
	}
	for _, a := range w.workers {
		a.kill()
	}
	for _, a := range w.stale {
		a.kill()
	}
}

// step is one step of the schedule: a fault, or an actor's next step.
func (w *world) step(ctx context.Context) error {
	w.advance(time.Duration(w.rnd.IntN(100)) * time.Millisecond)
	if w.rnd.IntN(4) == 0 && len(w.snaps) < 8 {
		snap, err := w.snapshot(ctx)
		if err != nil {
			return err
		}
		w.snaps = append(w.snaps, snap)
	}
	if w.hrnd != nil && w.faults && w.hrnd.IntN(25) == 0 {
		w.gracefulStop()
	}
	if w.rnd.IntN(12) == 0 {
		return w.fault(ctx)
	}
	if w.rnd.IntN(20) == 0 {
		w.expireLease(ctx, "")
	}
	w.maybeLand()
	var actors []*actor
	for _, c := range w.liveClosers() {
		actors = append(actors, c.actor)
	}
	for _, p := range sortedKeys(w.workers) {
		if a := w.workers[p]; !a.done {
			actors = append(actors, a.actor)
		}
	}
	for _, a := range w.stale {
		if !a.done {
			actors = append(actors, a.actor)
		}
	}
	if len(actors) == 0 {
		return nil
	}
	a := actors[w.rnd.IntN(len(actors))]
	w.note("%s: %s", a.name, a.at)
	a.run()
	return w.checkClosedRises(ctx)
}

// gracefulStop is SIGTERM of a closer: from its next round on it hands the
// lease over (if it holds it), then ends. Another closer is started first
// when fewer than two run on, so that one remains.
func (w *world) gracefulStop() {
	for len(w.runningClosers()) < 2 {
		w.startCloser()
	}
	running := w.runningClosers()
	c := running[w.hrnd.IntN(len(running)-1)] // not the last: it may have just started
	c.stopping = true
	w.note("fault: %s stopped gracefully at %q", c.name, c.at)
}

// fairStep runs every actor once, advancing time past any lease or wait,
// and lets idle partitions be idle: what happens once faults stop.
func (w *world) fairStep(ctx context.Context, i int) error {
	between := true
	for _, c := range w.liveClosers() {
		between = between && c.at == "round"
	}
	w.sinceJump++
	if w.sinceJump >= 10 && between {
		w.sinceJump = 0
		w.note("time passes")
		w.expireLease(ctx, "")
		w.advance(exploreTTL + exploreWrite)
	}
	for _, c := range w.liveClosers() {
		// A whole round at a time.
		for j := 0; j < 20 && (j == 0 || c.at != "round"); j++ {
			w.note("%s: %s", c.name, c.at)
			c.run()
		}
	}
	for _, p := range sortedKeys(w.workers) {
		if a := w.workers[p]; !a.done {
			w.note("%s: %s", a.name, a.at)
			a.run()
		}
	}
	return w.checkClosedRises(ctx)
}

// settled reports whether every partition saved all its input and every
// window with counted events is closed.
func (w *world) settled(ctx context.Context) (bool, error) {
	store := w.store()
	meta, err := store.ReadMeta(ctx)
	if err != nil {
		return false, err
	}
	sts, _, err := store.Statuses(ctx, w.partitions)
	if err != nil {
		return false, err
	}
	for p, st := range sts {
		if !st.Saved || !st.Idle {
			return false, nil
		}
		_ = p
	}
	var last int64 = eventtime.NoWatermark
	for _, evs := range w.input {
		for _, e := range evs {
			last = max(last, model.WindowStart(e.t, exploreWindow.Milliseconds())+exploreWindow.Milliseconds())
		}
	}
	return meta.ClosedThrough >= last && meta.Decided == meta.ClosedThrough, nil
}

func sortedKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// fault injects one fault, chosen by the seed.
func (w *world) fault(ctx context.Context) error {
	switch w.rnd.IntN(8) {
	case 0: // a closer paused past its lease: its lease expires, time moves on
		cs := w.liveClosers()
		if len(cs) == 0 {
			return nil
		}
		c := cs[w.rnd.IntN(len(cs))]
		w.note("fault: %s paused at %q past its lease", c.name, c.at)
		w.expireLease(ctx, c.name)
		w.advance(exploreTTL + time.Second)
		// Others run meanwhile; c resumes later where it stopped.
		for _, o := range cs {
			if o != c && w.rnd.IntN(2) == 0 {
				for range 3 + w.rnd.IntN(10) {
					w.note("%s: %s (while %s is paused)", o.name, o.at, c.name)
					o.run()
				}
			}
		}
	case 1: // Redis goes back to an earlier snapshot
		if len(w.snaps) == 0 || w.noRollback {
			return nil
		}
		i := w.rnd.IntN(len(w.snaps))
		w.note("fault: Redis rolled back to snapshot %d of %d", i, len(w.snaps))
		if err := w.restore(ctx, w.snaps[i]); err != nil {
			return err
		}
		w.snaps = w.snaps[:i+1]
		w.closed = eventtime.NoWatermark // I3 holds between rollbacks: Redis itself went back
	case 2: // a partition is added to the input topic
		if w.partitions >= 5 || w.noAdd {
			return nil
		}
		w.note("fault: partition %d added", w.partitions)
		w.addInputPartition()
		w.partitions++
		w.startWorker(w.partitions - 1)
	case 3: // a closer killed; another started
		cs := w.liveClosers()
		if len(cs) > 0 {
			c := cs[w.rnd.IntN(len(cs))]
			w.note("fault: %s killed at %q", c.name, c.at)
			c.kill()
		}
		if len(w.liveClosers()) < 3 {
			w.startCloser()
		}
	case 4: // a worker killed, or paused while a new one takes its partition over
		ps := sortedKeys(w.workers)
		p := ps[w.rnd.IntN(len(ps))]
		if w.rnd.IntN(2) == 0 {
			w.note("fault: %s killed at %q", w.workers[p].name, w.workers[p].at)
			w.workers[p].kill()
		} else {
			w.note("fault: %s paused at %q; its partition moves on without it", w.workers[p].name, w.workers[p].at)
			w.stale = append(w.stale, w.workers[p])
		}
		w.startWorker(p)
	case 5: // an idle lease runs out (its owner died)
		p := w.rnd.IntN(w.partitions)
		w.note("fault: partition %d's idle lease runs out", p)
		w.rdb.HSet(ctx, w.keys.Partition(p), "idle", 0)
	case 7: // reset, with one closer paused through it
		return w.reset(ctx)
	case 6: // the next writes fail in part, lose their ack, or land late
		w.sinkFault = w.rnd.IntN(3) + 1
		w.note("fault: the next output write %s", []string{"", "lands in part", "loses its ack", "is slow"}[w.sinkFault])
	}
	return nil
}

// reset is `stats-processor reset` while one closer is paused (SIGSTOP,
// not a group member, so the reset's member check cannot see it): every
// other instance is stopped, in-flight writes have landed, minutes pass,
// the pipeline's keys go (fences raised), and it starts over from the
// beginning of the input. The paused closer resumes later.
func (w *world) reset(ctx context.Context) error {
	if w.rnd.IntN(4) != 0 { // rarer than the other faults
		return nil
	}
	cs := w.liveClosers()
	var zombie *closerActor
	if len(cs) > 0 {
		zombie = cs[w.rnd.IntN(len(cs))]
	}
	for _, c := range cs {
		if c != zombie {
			c.kill()
		}
	}
	for _, a := range w.workers {
		a.kill()
	}
	w.advance(exploreTTL + exploreWrite)
	w.landOrDropAll()
	store := w.store()
	keys, err := store.PipelineKeys(ctx)
	if err != nil {
		return err
	}
	if _, err := store.DeleteKeys(ctx, keys); err != nil {
		return err
	}
	w.outMu.Lock()
	end := int64(len(w.output))
	w.epochAt = append(w.epochAt, len(w.output))
	clear(w.uncounted)
	w.outMu.Unlock()
	if zombie != nil {
		w.note("fault: reset, with %s paused at %q", zombie.name, zombie.at)
	} else {
		w.note("fault: reset")
	}
	for p := range w.verdicts {
		w.verdicts[p] = map[int]eventtime.Verdict{}
	}
	w.snaps, w.closed = nil, eventtime.NoWatermark
	if err := store.RecordShape(ctx); err != nil {
		return err
	}
	if _, err := store.RecordPartitions(ctx, w.partitions); err != nil {
		return err
	}
	if err := store.RecordOutput(ctx, w.partitions, []int64{end}); err != nil {
		return err
	}
	for p := range w.partitions {
		w.startWorker(p)
	}
	w.startCloser()
	return nil
}

// checkClosedRises is I3.
func (w *world) checkClosedRises(ctx context.Context) error {
	meta, err := w.store().ReadMeta(ctx)
	if err != nil {
		return err
	}
	if meta.ClosedThrough < w.closed {
		return fmt.Errorf("I3: closed bound went from %d down to %d", w.closed, meta.ClosedThrough)
	}
	w.closed = meta.ClosedThrough
	return nil
}

// check is I1 and I2 at the end of a schedule.
func (w *world) check(ctx context.Context) error {
	w.outMu.Lock()
	out := slices.Clone(w.output)
	uncounted := maps.Clone(w.uncounted)
	w.outMu.Unlock()
	// I1: within an epoch, every key has one value.
	values := map[string]string{}
	for i, m := range out {
		if i < w.epochAt[len(w.epochAt)-1] {
			continue
		}
		if v, ok := values[string(m.Key)]; ok && v != string(m.Value) {
			return fmt.Errorf("I1: key %s written with %s and with %s", m.Key, v, m.Value)
		}
		values[string(m.Key)] = string(m.Value)
	}
	// I2: each (window, type) emitted count is the number of events the
	// workers' committed history counted, less those the closer reported
	// late (counted by partitions added after the window's decision was
	// emitted, then lost by Redis); nothing counted is missing.
	size := exploreWindow.Milliseconds()
	want := map[string]int64{}
	for p, evs := range w.input {
		for off, e := range evs {
			v, ok := w.verdicts[p][off]
			if !ok {
				return fmt.Errorf("I2: partition %d offset %d was never committed", p, off)
			}
			if v == eventtime.Counted {
				want[fmt.Sprintf("%s:%d", e.typ, model.WindowStart(e.t, size))]++
			}
		}
	}
	got := map[string]int64{}
	for k, v := range values {
		st, err := serde.StatisticsCodec{}.Decode([]byte(v))
		if err != nil {
			return fmt.Errorf("output %s: %v", k, err)
		}
		got[k] = st.Count
	}
	for _, n := range uncounted {
		if n > 0 {
			schedulesWithUncounted.Add(1)
			break
		}
	}
	for k, n := range uncounted {
		if n > 0 {
			want[k] -= n
			if want[k] == 0 {
				delete(want, k)
			}
		}
	}
	for k, n := range want {
		if got[k] != n {
			return fmt.Errorf("I2: %s emitted %d, counted %d (emitted %v, counted %v)", k, got[k], n, got, want)
		}
	}
	for k, n := range got {
		if want[k] != n {
			return fmt.Errorf("I2: %s emitted %d, counted %d (emitted %v, counted %v)", k, n, want[k], got, want)
		}
	}
	return nil
}

// snapshot is every key of the pipeline with its value and time to live.
type snapshot map[string]dumped

type dumped struct {
	val string
	ttl time.Duration
}

func (w *world) snapshot(ctx context.Context) (snapshot, error) {
	keys, err := w.store().PipelineKeys(ctx)
	if err != nil {
		return nil, err
	}
	s := snapshot{}
	for _, k := range keys {
		v, err := w.rdb.Dump(ctx, k).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ttl, _ := w.rdb.PTTL(ctx, k).Result()
		s[k] = dumped{val: v, ttl: ttl}
	}
	return s, nil
}

// restore puts Redis back to s: the actors are all parked meanwhile, so
// they see one jump from one real state to an earlier one.
func (w *world) restore(ctx context.Context, s snapshot) error {
	if err := w.clear(ctx); err != nil {
		return err
	}
	for k, d := range s {
		ttl := d.ttl
		if ttl < 0 {
			ttl = 0
		}
		if err := w.rdb.RestoreReplace(ctx, k, ttl, d.val).Err(); err != nil {
			return err
		}
	}
	return nil
}

// The modelled output topic: one partition.

type outTopics world

func (o *outTopics) Partitions() int                   { return (*world)(o).partitions }
func (o *outTopics) Refresh(ctx context.Context) error { return nil }
func (o *outTopics) OutputEnd(ctx context.Context) ([]int64, error) {
	_, end, err := o.OutputOffsets(ctx)
	return end, err
}
func (o *outTopics) OutputOffsets(context.Context) (first, end []int64, err error) {
	w := (*world)(o)
	w.outMu.Lock()
	defer w.outMu.Unlock()
	return []int64{0}, []int64{int64(len(w.output))}, nil
}
func (o *outTopics) ReadOutput(_ context.Context, p int, from, to int64) ([]kafka.Message, error) {
	w := (*world)(o)
	w.outMu.Lock()
	defer w.outMu.Unlock()
	to = min(to, int64(len(w.output)))
	return slices.Clone(w.output[from:to]), nil
}

type outSink world

func (o *outSink) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	w := (*world)(o)
	if err := ctx.Err(); err != nil {
		return err
	}
	fault := w.sinkFault
	w.sinkFault = 0
	w.outMu.Lock()
	defer w.outMu.Unlock()
	switch fault {
	case 1: // some batches land, the others fail
		n := w.rnd.IntN(len(msgs))
		w.output = append(w.output, msgs[:n]...)
		return errors.New("partial write")
	case 2: // all land, the ack is lost
		w.output = append(w.output, msgs...)
		return errors.New("ack lost")
	case 3: // slow: lands later, within the write bound, or never
		w.inflight = append(w.inflight, pendingWrite{msgs: slices.Clone(msgs), landBy: w.now.Add(exploreWrite)})
		return context.DeadlineExceeded
	}
	w.output = append(w.output, msgs...)
	return nil
}

// maybeLand lands (or drops) slow writes: at random, and always before
// their write bound passed.
func (w *world) maybeLand() {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	keep := w.inflight[:0]
	for _, p := range w.inflight {
		switch {
		case !w.now.Before(p.landBy) || w.rnd.IntN(6) == 0:
			if w.rnd.IntN(4) != 0 {
				w.output = append(w.output, p.msgs...)
				w.note("slow write of %d records lands", len(p.msgs))
			} else {
				w.note("slow write of %d records is lost", len(p.msgs))
			}
		default:
			keep = append(keep, p)
		}
	}
	w.inflight = keep
}

func (w *world) landOrDropAll() { w.advance(exploreWrite) }

// advance moves the clock on by d; slow writes whose bound falls within d
// land (or are lost) first.
func (w *world) advance(d time.Duration) {
	w.outMu.Lock()
	keep := w.inflight[:0]
	for _, p := range w.inflight {
		if p.landBy.After(w.now.Add(d)) {
			keep = append(keep, p)
			continue
		}
		if w.rnd.IntN(4) != 0 {
			w.output = append(w.output, p.msgs...)
			w.note("slow write of %d records lands", len(p.msgs))
		} else {
			w.note("slow write of %d records is lost", len(p.msgs))
		}
	}
	w.inflight = keep
	w.outMu.Unlock()
	w.now = w.now.Add(d)
}

// expireLease ends the lease held by a closer that is dead, or by owner:
// Redis's own expiry is an hour of real time, the schedule's time is
// virtual, so the scheduler says when a lease has run out.
func (w *world) expireLease(ctx context.Context, owner string) {
	cur, err := w.rdb.Get(ctx, w.keys.Closer()).Result()
	if err != nil {
		return
	}
	_, holder, _ := strings.Cut(cur, ":")
	alive := false
	for _, c := range w.liveClosers() {
		alive = alive || c.name == holder
	}
	if holder == owner || !alive {
		w.note("the lease of %s runs out", holder)
		w.rdb.Del(ctx, w.keys.Closer())
	}
}
