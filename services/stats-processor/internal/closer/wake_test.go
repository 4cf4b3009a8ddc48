package closer_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/closer"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// Wakes that name their partition: the lease holder reads only the woken
// partitions' statuses, the others' from its last full read, and a stale
// one never closes a window early. Real Redis; the output topic is the
// explorer's model (the figures and decisions here are Redis's).

// commandLog records, in order, the first key of every command a client
// sends (pipelined ones one by one) and the closer's steps: which keys each
// step of a round touched. It is a redis.Hook.
type commandLog struct {
	mu    sync.Mutex
	lines []string
	n     atomic.Int64 // commands, all of them
}

func (l *commandLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *commandLog) command(c redis.Cmder) {
	l.n.Add(1)
	args := c.Args()
	key := 1
	if name := c.Name(); name == "eval" || name == "evalsha" {
		key = 3
	}
	if key < len(args) {
		l.add(fmt.Sprintf("%s %v", c.Name(), args[key]))
	} else {
		l.add(c.Name())
	}
}

// since returns the lines from mark on.
func (l *commandLog) since(mark int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines[mark:])
}

func (l *commandLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error {
		l.command(c)
		return next(ctx, c)
	}
}

func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			l.command(c)
		}
		return next(ctx, cmds)
	}
}

// statusReads returns the partition keys whose statuses the first
// watermark step in lines read: the keys between "step watermark" and the
// round's next step.
func statusReads(lines []string, keys state.Keys, partitions int) []string {
	partition := map[string]string{}
	for p := range partitions {
		partition[keys.Partition(p)] = fmt.Sprint(p)
	}
	var out []string
	in := false
	for _, l := range lines {
		switch {
		case l == "step watermark":
			in = true
		case strings.HasPrefix(l, "step "):
			if in {
				return out
			}
		case in:
			f := strings.Fields(l)
			if p, ok := partition[f[len(f)-1]]; ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// wakeRig is one pipeline of partitions in real Redis and a closer on a
// client of its own, whose commands and steps go to log.
type wakeRig struct {
	w      *world
	store  *state.RedisStore // the test's, on a client of its own
	log    *commandLog
	closer *closer.Closer
	now    atomic.Int64 // the closer's clock, ns
	closed chan state.ClosedWindow
	offset []int64
	base   int64 // the start of the window the tests close
}

func newWakeRig(t testing.TB, partitions int, opts closer.Options) *wakeRig {
	ctx := context.Background()
	env := testenv.Get(t)
	rdb, prefix := env.Redis(t)
	r := &wakeRig{
		w: &world{
			t: t, rdb: rdb, prefix: prefix, keys: state.NewKeys(prefix, "vehicles"), now: time.Unix(1_000_000, 0),
			et: eventtime.DefaultConfig(), epochAt: []int{0}, closed: eventtime.NoWatermark, uncounted: map[string]int64{}, partitions: partitions,
		},
		log:    &commandLog{},
		closed: make(chan state.ClosedWindow, 64),
		offset: make([]int64, partitions),
	}
	r.w.et.Window.Size = exploreWindow
	r.base = time.Now().Add(-24*time.Hour).UnixMilli() / exploreWindow.Milliseconds() * exploreWindow.Milliseconds()
	r.now.Store(time.Unix(1_000_000, 0).UnixNano())
	r.store = r.w.store()
	if err := r.store.RecordShape(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.RecordPartitions(ctx, partitions); err != nil {
		t.Fatal(err)
	}
	if err := r.store.RecordOutput(ctx, partitions, []int64{0}); err != nil {
		t.Fatal(err)
	}
	for p := range partitions {
		if _, err := r.store.Load(ctx, p); err != nil {
			t.Fatal(err)
		}
		r.offset[p] = -1
	}
	crdb := redis.NewClient(rdb.Options())
	t.Cleanup(func() { crdb.Close() })
	crdb.AddHook(r.log)
	m, _ := metrics.New(prometheus.NewRegistry())
	opts.InstanceID = "wake-test"
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Unix(0, r.now.Load()) }
	}
	opts.Pause = func(_ context.Context, step string) { r.log.add("step " + step) }
	opts.Closed = func(cw state.ClosedWindow) { r.closed <- cw }
	r.closer = closer.New(r.w.et, state.NewRedisStore(crdb, r.w.keys, exploreWindow, time.Hour), (*outTopics)(r.w), (*outSink)(r.w),
		m, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	return r
}

// save saves partition p with its largest event time at max, p+1 cars in
// the rig's window, and idle for idleFor (0: busy).
func (r *wakeRig) save(t testing.TB, p int, max int64, idleFor time.Duration) {
	t.Helper()
	var c eventtime.Counts
	c[0] = int64(p + 1)
	cp := state.Checkpoint{Partition: p, ExpectedOffset: r.offset[p], Offset: r.offset[p] + 1, MaxEventTime: max,
		IdleFor: idleFor, Owner: "wake-test", Windows: map[int64]eventtime.Counts{r.base: c}}
	if _, err := r.store.Save(context.Background(), cp); err != nil {
		t.Fatalf("save partition %d: %v", p, err)
	}
	r.offset[p]++
}

// inWindow and crossed are event times that hold the rig's window open
// and that let it close.
func (r *wakeRig) inWindow() int64 { return r.base + 1_000 }
func (r *wakeRig) crossed() int64 {
	return r.base + exploreWindow.Milliseconds() + r.w.et.Watermark.MaxOutOfOrderness.Milliseconds()
}

// advance moves the closer's clock past the wait of a new lease holder.
func (r *wakeRig) advance(d time.Duration) { r.now.Add(int64(d)) }

// wantClosedExactly checks that the rig's window closed once, with every
// partition's cars: partition p counted p+1.
func (r *wakeRig) wantClosedExactly(t testing.TB, partitions int) {
	t.Helper()
	var cw state.ClosedWindow
	select {
	case cw = <-r.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the window did not close")
	}
	want := int64(partitions * (partitions + 1) / 2)
	if cw.Start != r.base || cw.Counts[0] != want || cw.Counts.Total() != want {
		t.Fatalf("closed window %d with %v, want %d with %d cars", cw.Start, cw.Counts, r.base, want)
	}
	meta, err := r.store.ReadMeta(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if end := r.base + exploreWindow.Milliseconds(); meta.ClosedThrough != end {
		t.Fatalf("closed through %d, want %d", meta.ClosedThrough, end)
	}
	select {
	case cw := <-r.closed:
		t.Fatalf("window %d closed too", cw.Start)
	default:
	}
}

// TestIntegrationWakeReadsItsPartition: the closer runs as in production
// (Run, woken through Redis pub/sub); a wake naming partition 1 makes the
// holder read partition 1's status only, and the window closes exactly on
// it. Before wakes named their partition, every wake round read every
// partition's status.
func TestIntegrationWakeReadsItsPartition(t *testing.T) {
	const partitions = 3
	ctx, cancel := context.WithCancel(context.Background())
	r := newWakeRig(t, partitions, closer.Options{Config: closer.Config{Interval: time.Hour}, LeaseTTL: time.Minute, WriteBound: time.Second})
	r.save(t, 0, r.crossed(), 0)
	r.save(t, 1, r.inWindow(), 0)
	r.save(t, 2, r.crossed(), 0)

	done := make(chan struct{})
	go func() { defer close(done); r.closer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	channel := r.w.keys.Wake()
	waitFor(t, "the closer's subscription", func() bool {
		n, err := r.w.rdb.PubSubNumSub(ctx, channel).Result()
		return err == nil && n[channel] > 0
	})

	// A wake that names no partition: the holder takes the lease and reads
	// every status (partition 1 holds the window open).
	if err := r.w.rdb.Publish(ctx, channel, "").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first round's watermark", func() bool {
		meta, err := r.store.ReadMeta(ctx)
		return err == nil && meta.Watermark != eventtime.NoWatermark
	})
	if got := statusReads(r.log.since(0), r.w.keys, partitions); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("the first round read the statuses of partitions %v, want all of [0 1 2]", got)
	}
	r.advance(2 * time.Minute) // past the new holder's wait (LeaseTTL + WriteBound)

	// Partition 1 passes the window's end and wakes the closers naming
	// itself.
	mark := r.log.mark()
	r.save(t, 1, r.crossed(), 0)
	if err := r.w.rdb.Publish(ctx, channel, "1").Err(); err != nil {
		t.Fatal(err)
	}
	r.wantClosedExactly(t, partitions)
	if got := statusReads(r.log.since(mark), r.w.keys, partitions); fmt.Sprint(got) != "[1]" {
		t.Fatalf("the wake round read the statuses of partitions %v, want [1] only", got)
	}
}

// TestIntegrationWakeStaleStatusClosesNothing: the holder's known status of
// partition 0 is stale (it turned busy, behind the window's end, and its
// wake was lost). A wake of partition 1 then computes a watermark past the
// window's end from it; the seal reads partition 0 again and refuses, so
// nothing closes; the next round reads every status again, and once
// partition 0 passes the end (still without a wake) the tick's full read
// closes the window exactly.
func TestIntegrationWakeStaleStatusClosesNothing(t *testing.T) {
	const partitions = 3
	ctx := context.Background()
	r := newWakeRig(t, partitions, closer.Options{LeaseTTL: time.Minute, WriteBound: time.Second})
	r.save(t, 0, r.inWindow(), time.Hour) // idle: it does not hold the window
	r.save(t, 1, r.inWindow(), 0)
	r.save(t, 2, r.crossed(), 0)
	r.closer.Round(ctx) // takes the lease, reads every status
	r.advance(2 * time.Minute)

	r.save(t, 0, r.inWindow(), 0) // busy again; its wake is lost
	r.save(t, 1, r.crossed(), 0)
	mark := r.log.mark()
	r.closer.Round(ctx, 1)
	lines := r.log.since(mark)
	if got := statusReads(lines, r.w.keys, partitions); fmt.Sprint(got) != "[1]" {
		t.Fatalf("the wake round read the statuses of partitions %v, want [1] only", got)
	}
	if !slices.Contains(lines, "step seal") {
		t.Fatalf("the wake round did not try to close on partition 0's stale status: %v", lines)
	}
	select {
	case cw := <-r.closed:
		t.Fatalf("window %d closed on a stale status: %v", cw.Start, cw.Counts)
	default:
	}
	if meta, err := r.store.ReadMeta(ctx); err != nil || meta.ClosedThrough > r.base {
		t.Fatalf("closed through %d (%v) after the seal refused, the window starting at %d with it", meta.ClosedThrough, err, r.base)
	}

	// The refusal dropped what the holder knew: the next wake round reads
	// every status, and closes nothing while partition 0 holds the window.
	mark = r.log.mark()
	r.closer.Round(ctx, 2)
	if got := statusReads(r.log.since(mark), r.w.keys, partitions); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("the round after the refusal read the statuses of partitions %v, want all of [0 1 2]", got)
	}
	select {
	case cw := <-r.closed:
		t.Fatalf("window %d closed while partition 0 held it: %v", cw.Start, cw.Counts)
	default:
	}

	r.save(t, 0, r.crossed(), 0) // no wake: the tick's full read closes
	r.closer.Round(ctx)
	r.wantClosedExactly(t, partitions)
}

// waitFor polls cond until it holds, and fails the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not there after 10 s", what)
		}
	}
}

var benchWakeWindows = flag.Int("wakes.windows", 3, "windows (of 20 s each) that BenchmarkCloserWakes measures per run")

// BenchmarkCloserWakes measures the closer's Redis commands with live
// traffic of 20,000 events/s over 240 and 1,000 partitions: windows of
// 20 s, the closer's tick every 250 ms (the defaults), and at each window's
// end every partition, once its first event past the end arrives (after an
// exponential wait of mean P/20,000 s), saves that event and wakes the
// closers as a caught-up partition's worker does: Nudge of this
// instance's closer, and a Wake through Redis. It compares wakes that name
// their partition with wakes that name none, which read every status as
// every wake did before. Only the crossing saves are made (the periodic
// checkpoints cost the consumer, not the closer). It reports the closer's
// commands and status reads per second, its rounds, and how long after
// the last partition's save the window closed. The last row has the tick
// (checkpoint.close_interval) at 1 s instead of 250 ms. Each run measures
// -wakes.windows windows of 20 s in real time, after the lease is taken:
// run it with -benchtime=1x.
func BenchmarkCloserWakes(b *testing.B) {
	for _, c := range []struct {
		partitions int
		named      bool
		tick       time.Duration
	}{
		{240, false, 250 * time.Millisecond},
		{240, true, 250 * time.Millisecond},
		{1000, false, 250 * time.Millisecond},
		{1000, true, 250 * time.Millisecond},
		{1000, true, time.Second},
	} {
		b.Run(fmt.Sprintf("partitions=%d/named=%t/tick=%s", c.partitions, c.named, c.tick), func(b *testing.B) {
			for range b.N {
				benchWakes(b, c.partitions, c.named, c.tick)
			}
		})
	}
}

func benchWakes(b *testing.B, partitions int, named bool, tick time.Duration) {
	const rate = 20_000 // events/s over all partitions
	ctx, cancel := context.WithCancel(context.Background())
	r := newWakeRig(b, partitions, closer.Options{Config: closer.Config{Interval: tick}, Now: time.Now,
		LeaseTTL: 5 * time.Second, WriteBound: 100 * time.Millisecond})
	size := exploreWindow.Milliseconds()
	// Event time is the wall clock shifted so that a window ends 1 s after
	// the new holder's wait (LeaseTTL + WriteBound, when it reads nothing
	// back).
	const warmUp = 5500 * time.Millisecond
	firstEnd := time.Now().Add(warmUp + time.Second).UnixMilli()
	shift := (size - firstEnd%size) % size
	eventNow := func() int64 { return time.Now().UnixMilli() + shift }
	r.base = eventNow() / size * size
	for p := range partitions {
		r.save(b, p, eventNow(), 0)
	}
	done := make(chan struct{})
	go func() { defer close(done); r.closer.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(warmUp)

	var cmds, reads, rounds, holderRounds int64
	var closeAfter, closeAfterEnd, measured time.Duration
	rnd := rand.New(rand.NewPCG(uint64(partitions), 1))
	b.ResetTimer()
	end := (eventNow()/size + 1) * size
	for ; end <= firstEnd+shift+int64(*benchWakeWindows-1)*size; end += size {
		r.base = end - size
		time.Sleep(time.Duration(end-eventNow()) * time.Millisecond)
		mark, n0 := r.log.mark(), r.log.n.Load()
		started := time.Now()
		// Each partition's first event past the end, on the workers of 8
		// instances' worth of goroutines.
		after := make([]time.Duration, partitions)
		for p := range after {
			after[p] = time.Duration(rnd.ExpFloat64() * float64(partitions) / rate * float64(time.Second))
		}
		var wg sync.WaitGroup
		lastSave := make([]time.Time, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mine := []int{}
				for p := g; p < partitions; p += 8 {
					mine = append(mine, p)
				}
				slices.SortFunc(mine, func(x, y int) int { return int(after[x] - after[y]) })
				for _, p := range mine {
					time.Sleep(time.Until(started.Add(after[p])))
					r.save(b, p, end+after[p].Milliseconds(), 0)
					if named {
						r.closer.Nudge(p)
						if err := r.store.Wake(ctx, p); err != nil {
							b.Error(err)
						}
					} else {
						r.closer.Nudge(-1)
						if err := r.w.rdb.Publish(ctx, r.w.keys.Wake(), "").Err(); err != nil {
							b.Error(err)
						}
					}
					lastSave[g] = time.Now()
				}
			}()
		}
		wg.Wait()
		r.wantClosedExactly(b, partitions)
		closeAfter = max(closeAfter, time.Since(slices.MaxFunc(lastSave, time.Time.Compare)))
		closeAfterEnd = max(closeAfterEnd, time.Since(started))
		// The rest of the window: ticks only.
		time.Sleep(time.Duration(end+size-eventNow()-1) * time.Millisecond)
		measured += time.Since(started)
		cmds += r.log.n.Load() - n0
		for _, l := range r.log.since(mark) {
			switch l {
			case "step lead":
				rounds++
			case "step watermark":
				holderRounds++
			}
		}
		reads += int64(countStatusReads(r.log.since(mark)))
	}
	b.StopTimer()
	secs := measured.Seconds()
	b.ReportMetric(float64(cmds)/secs, "cmds/s")
	b.ReportMetric(float64(reads)/secs, "status-reads/s")
	b.ReportMetric(float64(rounds)/secs, "rounds/s")
	b.ReportMetric(float64(holderRounds)/secs, "holder-rounds/s")
	b.ReportMetric(float64(closeAfter.Milliseconds()), "max-ms-last-save-to-close")
	b.ReportMetric(float64(closeAfterEnd.Milliseconds()), "max-ms-end-to-close")
}

// countStatusReads counts the partition keys read in the watermark steps
// of lines.
func countStatusReads(lines []string) int {
	n, in := 0, false
	for _, l := range lines {
		switch {
		case l == "step watermark":
			in = true
		case strings.HasPrefix(l, "step "):
			in = false
		case in && strings.Contains(l, ":{vehicles."):
			n++
		}
	}
	return n
}
