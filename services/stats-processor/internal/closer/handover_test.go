package closer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/closer"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
)

// Deterministic interleavings of a graceful handover of the closer lease
// from H to S, on a real Redis and a real output topic, with the closers'
// monotonic clock in the test's hands (the lease itself runs on Redis's
// clock, which hardly moves meanwhile). The test is the scheduler: it
// feeds one partition, advances the clock, and runs H's and S's steps.

const (
	hoTTL   = 5 * time.Second
	hoWrite = 6500 * time.Millisecond
	hoGrace = hoTTL + hoWrite
)

func TestIntegrationHandOverWithoutWait(t *testing.T) {
	w := newHandoverWorld(t)
	h, s := w.closer("h", nil), w.closer("s", nil)
	w.designated(h, s)
	// H closes a window every second until its successor's grace has run.
	closedByH := 0
	for i := 0; ; i++ {
		if i > 30 {
			t.Fatal("H did not hand the lease over within 30 s")
		}
		w.advance(time.Second)
		due := w.feed()
		done := h.HandOverRound(w.ctx)
		s.Round(w.ctx)
		if done {
			break
		}
		if w.closedThrough() >= due {
			closedByH++
		}
	}
	if closedByH < 10 {
		t.Errorf("H closed %d windows during its successor's grace, want one a second", closedByH)
	}
	// S holds the lease (its first round after the transfer) and closes
	// the next window at once, woken by its save.
	due := w.feed()
	s.Round(w.ctx, 0)
	if got := w.closedThrough(); got < due {
		t.Fatalf("S did not close the due window at once after the handover: closed through %d, due %d", got, due)
	}
	w.checkOutput()
}

func TestIntegrationHandOverObservedTooLate(t *testing.T) {
	w := newHandoverWorld(t)
	h, s := w.closer("h", nil), w.closer("s", nil)
	id := w.designated(h, s)
	// H's clock ran on from an earlier sight of the mark (S's answer was
	// late): it transfers when S observed its designation only half a
	// grace ago. S must wait as after any other holder.
	w.advance(hoGrace / 2)
	w.transfer(h, "s", id)
	w.waitsFullGrace(s)
}

func TestIntegrationHandOverNotObserved(t *testing.T) {
	w := newHandoverWorld(t)
	h := w.closer("h", nil)
	w.leadFirst(h)
	// S asked for the lease (a candidate), was designated, and the mark
	// was set by a TryLead whose answer S never read (it restarted).
	w.tryLead("s")
	if !w.handOverStep(h) {
		w.tryLead("s")
	}
	for !w.handOverStep(h) {
		w.advance(time.Second)
	}
	s := w.closer("s", nil)
	w.waitsFullGrace(s)
}

func TestIntegrationHandOverLastWriteFailed(t *testing.T) {
	w := newHandoverWorld(t)
	fail := false
	h, s := w.closer("h", &fail), w.closer("s", nil)
	w.designated(h, s)
	for i := 0; ; i++ {
		if i > 30 {
			t.Fatal("H's handover did not end within 30 s")
		}
		w.advance(time.Second)
		w.feed()
		fail = i >= 8 // the writes fail from some point on
		done := h.HandOverRound(w.ctx)
		s.Round(w.ctx)
		if done {
			break
		}
	}
	// H released the lease: S takes it as after another and waits.
	w.waitsFullGrace(s)
}

func TestIntegrationHandOverTransferRolledBack(t *testing.T) {
	w := newHandoverWorld(t)
	var snap map[string]string
	h := w.closerPaused("h", func(step string) {
		if step == "transfer" {
			snap = w.snapshot()
		}
	})
	s := w.closer("s", nil)
	w.designated(h, s)
	for !h.HandOverRound(w.ctx) {
		w.advance(time.Second)
		s.Round(w.ctx)
	}
	if snap == nil {
		t.Fatal("H never reached the transfer")
	}
	w.restore(snap) // Redis lost the transfer
	if l := w.tryLead("s"); l.Token != 0 {
		t.Fatalf("S holds a lease whose transfer Redis lost: %+v", l)
	}
	if err := w.rdb.Del(w.ctx, w.keys.Closer()).Err(); err != nil { // H's lease expires
		t.Fatal(err)
	}
	w.waitsFullGrace(s)
}

// handoverWorld is one input partition's saved state, the real output
// topic and the closers' clock.
type handoverWorld struct {
	t      *testing.T
	ctx    context.Context
	rdb    *redis.Client
	keys   state.Keys
	store  *state.RedisStore
	topics *topics.Topics
	now    time.Time
	et     eventtime.Config
	offset int64
	window int64 // the next window to fill
}

func newHandoverWorld(t *testing.T) *handoverWorld {
	env := testenv.Get(t)
	rdb, prefix := env.Redis(t)
	cfg := topics.DefaultConfig()
	cfg.Brokers = env.Brokers
	cfg.InputTopic = env.Topic(t, "handover-in", 1)
	cfg.OutputTopic = env.Topic(t, "handover-out", 1)
	w := &handoverWorld{
		t: t, ctx: context.Background(), rdb: rdb, keys: state.NewKeys(prefix, cfg.InputTopic), topics: topics.New(cfg, nil, nil),
		now: time.Unix(1_000_000, 0), et: eventtime.DefaultConfig(), offset: -1,
		window: time.Now().Add(-24*time.Hour).UnixMilli() / 20_000 * 20_000,
	}
	w.store = state.NewRedisStore(rdb, w.keys, w.et.Window.Size, time.Hour)
	t.Cleanup(func() { w.topics.Close() })
	if err := w.topics.Refresh(w.ctx); err != nil {
		t.Fatal(err)
	}
	end, err := w.topics.OutputEnd(w.ctx)
	if err == nil {
		err = errors.Join(w.store.RecordShape(w.ctx), w.store.RecordOutput(w.ctx, 1, end))
	}
	if _, rerr := w.store.RecordPartitions(w.ctx, 1); rerr != nil || err != nil {
		t.Fatal(err, rerr)
	}
	if _, err := w.store.Load(w.ctx, 0); err != nil {
		t.Fatal(err)
	}
	return w
}

// closer returns a closer named name; its writes fail while *fail.
func (w *handoverWorld) closer(name string, fail *bool) *closer.Closer {
	return w.closerWith(name, fail, nil)
}

// closerPaused is a closer that calls at before each step.
func (w *handoverWorld) closerPaused(name string, at func(step string)) *closer.Closer {
	return w.closerWith(name, nil, at)
}

func (w *handoverWorld) closerWith(name string, fail *bool, at func(step string)) *closer.Closer {
	m, _ := metrics.New(prometheus.NewRegistry())
	out := w.topics.Writer(w.topics.Config().OutputTopic)
	out.BatchTimeout = time.Millisecond
	w.t.Cleanup(func() { out.Close() })
	opts := closer.Options{InstanceID: name, LeaseTTL: hoTTL, WriteBound: hoWrite, Now: func() time.Time { return w.now }}
	if at != nil {
		opts.Pause = func(_ context.Context, step string) { at(step) }
	}
	return closer.New(w.et, w.store, w.topics, &failingSink{w: out, fail: fail}, m, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
}

// failingSink is the real writer, or a write that fails while *fail.
type failingSink struct {
	w    *kafka.Writer
	fail *bool
}

func (f *failingSink) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if f.fail != nil && *f.fail {
		return errors.New("write failed (the test's)")
	}
	return f.w.WriteMessages(ctx, msgs...)
}

func (w *handoverWorld) advance(d time.Duration) { w.now = w.now.Add(d) }

// feed saves the partition with one more window's events and an event
// time that makes it due; it returns the closed bound that closes it (its
// end).
func (w *handoverWorld) feed() int64 {
	w.t.Helper()
	start := w.window
	w.window += 20_000
	var c eventtime.Counts
	c[0] = 3
	_, err := w.store.Save(w.ctx, state.Checkpoint{Partition: 0, ExpectedOffset: w.offset, Offset: w.offset + 2, MaxEventTime: w.window + 1_000,
		Windows: map[int64]eventtime.Counts{start: c}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.offset += 2
	return w.window
}

func (w *handoverWorld) closedThrough() int64 {
	w.t.Helper()
	m, err := w.store.ReadMeta(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return m.ClosedThrough
}

func (w *handoverWorld) tryLead(owner string) state.Lead {
	w.t.Helper()
	l, err := w.store.TryLead(w.ctx, owner, hoTTL, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// leadFirst makes h the pipeline's first holder and has it close a window.
func (w *handoverWorld) leadFirst(h *closer.Closer) {
	w.t.Helper()
	due := w.feed()
	h.Round(w.ctx)
	if got := w.closedThrough(); got < due {
		w.t.Fatalf("the first holder did not close the due window: closed through %d, due %d", got, due)
	}
}

// designated leads with h, lets s ask, has h designate s and s observe
// it, and returns the designation's id.
func (w *handoverWorld) designated(h, s *closer.Closer) int64 {
	w.t.Helper()
	w.leadFirst(h)
	s.Round(w.ctx) // a candidate
	if h.HandOverRound(w.ctx) {
		w.t.Fatal("H gave the lease up instead of designating S")
	}
	s.Round(w.ctx) // observes its designation
	m, err := w.rdb.HGetAll(w.ctx, w.keys.Meta()).Result()
	if err != nil || m["successor"] != "s" || m["successor_seen"] == "" {
		w.t.Fatalf("meta after S's designation: %v %v", m, err)
	}
	var id int64
	for _, c := range m["successor_since"] {
		id = id*10 + int64(c-'0')
	}
	return id
}

func (w *handoverWorld) handOverStep(h *closer.Closer) bool { return h.HandOverRound(w.ctx) }

// transfer hands h's lease to successor as H's transfer does.
func (w *handoverWorld) transfer(h *closer.Closer, successor string, id int64) {
	w.t.Helper()
	cur, err := w.rdb.Get(w.ctx, w.keys.Closer()).Result()
	if err != nil {
		w.t.Fatal(err)
	}
	var tok int64
	for _, c := range cur[:len(cur)-len(":h")] {
		tok = tok*10 + int64(c-'0')
	}
	if got, err := w.store.Transfer(w.ctx, tok, "h", successor, id, hoTTL); got == 0 || err != nil {
		w.t.Fatalf("transfer: %d %v", got, err)
	}
}

// waitsFullGrace requires s to take or hold the lease and close nothing
// for the whole grace from then, and the due window after it.
func (w *handoverWorld) waitsFullGrace(s *closer.Closer) {
	w.t.Helper()
	due := w.feed()
	before := w.closedThrough()
	s.Round(w.ctx)
	if l := w.tryLead("s"); l.Token == 0 {
		w.t.Fatalf("S does not hold the lease: %+v", l)
	}
	for waited := time.Duration(0); waited < hoGrace-500*time.Millisecond; waited += 500 * time.Millisecond {
		if got := w.closedThrough(); got != before {
			w.t.Fatalf("S closed windows (through %d) %s after taking the lease: before the grace (%s) ran", got, waited, hoGrace)
		}
		w.advance(500 * time.Millisecond)
		s.Round(w.ctx)
	}
	w.advance(time.Second)
	s.Round(w.ctx)
	if got := w.closedThrough(); got < due {
		w.t.Fatalf("S did not close the due window after the grace: closed through %d, due %d", got, due)
	}
	w.checkOutput()
}

// checkOutput requires every output key to have one value.
func (w *handoverWorld) checkOutput() {
	w.t.Helper()
	first, end, err := w.topics.OutputOffsets(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	msgs, err := w.topics.ReadOutput(w.ctx, 0, first[0], end[0])
	if err != nil {
		w.t.Fatal(err)
	}
	recs, problems := closer.OutputRecords(msgs, 20_000)
	if len(problems) > 0 || len(recs) == 0 {
		w.t.Fatalf("output: %d records, problems %+v", len(recs), problems)
	}
}

// snapshot and restore roll Redis back (the pipeline's keys, nothing
// running meanwhile; the lease restored with a minute to run).
func (w *handoverWorld) snapshot() map[string]string {
	snap := map[string]string{}
	for _, k := range w.pipelineKeys() {
		if v, err := w.rdb.Dump(w.ctx, k).Result(); err == nil {
			snap[k] = v
		}
	}
	return snap
}

func (w *handoverWorld) restore(snap map[string]string) {
	for _, k := range w.pipelineKeys() {
		if _, ok := snap[k]; !ok {
			w.rdb.Del(w.ctx, k)
		}
	}
	for k, v := range snap {
		ttl := time.Duration(0)
		if k == w.keys.Closer() {
			ttl = time.Minute
		}
		if err := w.rdb.RestoreReplace(w.ctx, k, ttl, v).Err(); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *handoverWorld) pipelineKeys() []string {
	keys, err := w.store.PipelineKeys(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return keys
}
