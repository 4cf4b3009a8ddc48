package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cc := DefaultConfig()
	cc.StartOffset = "middle"
	cc.SessionTimeout = time.Second
	// Keys are relative to the component: the service puts them under kafka.
	for _, c := range []struct {
		err  error
		keys []string
	}{
		{cc.Validate(), []string{"start_offset", "session_timeout"}},
	} {
		for _, key := range c.keys {
			if c.err == nil || !strings.Contains("\n"+c.err.Error(), "\n"+key+":") {
				t.Errorf("error lacks %s: %v", key, c.err)
			}
		}
	}
}

func newTestWorker(late string) *worker {
	tc := topics.DefaultConfig()
	tc.LateTopic = late
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	c := New(DefaultConfig(), topics.New(tc, nil, nil), eventtime.DefaultConfig(), nil, m, slog.Default(), Options{})
	return &worker{c: c, et: eventtime.NewPartition(c.et)}
}

func TestHandle(t *testing.T) {
	w := newTestWorker("late")
	good := `{"plateNumber":"CA1234AB","vignetteStickerId":"x","timestamp":"2026-11-21T23:45:25.000Z","vehicleType":"TRUCK"}`
	old := `{"plateNumber":"CA1234AB","vignetteStickerId":"x","timestamp":"2026-11-21T23:45:05.000Z","vehicleType":"CAR"}`
	w.handle(kafka.Message{Key: []byte("CA1234AB"), Value: []byte(good), Offset: 1})
	w.handle(kafka.Message{Key: []byte("CA1234AB"), Value: []byte(old), Offset: 2})
	w.handle(kafka.Message{Key: []byte("k"), Value: []byte(`{"plateNumber":"X"}`), Offset: 3})
	if w.counted[model.Truck.Index()] != 1 || w.late != 1 || w.dead[metrics.MissingField] != 1 {
		t.Fatalf("counted %v late %d dead %v", w.counted, w.late, w.dead)
	}
	if len(w.pending) != 2 || w.pending[0].Topic != "late" || w.pending[1].Topic != topics.DefaultConfig().DeadLetterTopic {
		t.Fatalf("pending %+v", w.pending)
	}
	h := map[string]string{}
	for _, x := range w.pending[1].Headers {
		h[x.Key] = string(x.Value)
	}
	if h["source-offset"] != "3" || h["source-partition"] != "0" || !strings.Contains(h["error"], "timestamp") {
		t.Errorf("dead-letter headers %v", h)
	}
}

// A record without a timestamp (kafka-go reports any timestamp at or below
// 0 as a zero time) is held to watermark.max_future from the read time, the
// injected clock: a far-future event in it is a dead letter, not an event
// that moves the watermark to year 9999.
func TestHandleFutureWithoutRecordTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c := New(DefaultConfig(), topics.New(topics.DefaultConfig(), nil, nil), eventtime.DefaultConfig(), nil, m, slog.Default(),
		Options{Now: func() time.Time { return now }})
	w := &worker{c: c, et: eventtime.NewPartition(c.et)}
	value := func(ts time.Time) []byte {
		return fmt.Appendf(nil, `{"plateNumber":"CA1234AB","vignetteStickerId":"x","timestamp":%q,"vehicleType":"CAR"}`,
			ts.Format("2006-01-02T15:04:05.000Z07:00"))
	}
	for _, r := range []struct {
		name    string
		event   time.Time
		record  time.Time // zero: none
		counted bool
	}{
		{"live, no timestamp", now.Add(-time.Second), time.Time{}, true},
		{"exactly max_future ahead of the read time", now.Add(time.Hour), time.Time{}, true},
		{"1 ms more", now.Add(time.Hour + time.Millisecond), time.Time{}, false},
		{"year 9999, no timestamp", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Time{}, false},
		// With a timestamp, the record's own is the reference, not the clock.
		{"within max_future of its record timestamp", now.Add(5 * time.Hour), now.Add(4*time.Hour + time.Second), true},
	} {
		dead, counted := w.dead[metrics.Future], w.counted[model.Car.Index()]
		w.handle(kafka.Message{Value: value(r.event), Time: r.record})
		if got := w.counted[model.Car.Index()] > counted; got != r.counted || (w.dead[metrics.Future] > dead) == r.counted {
			t.Errorf("%s: counted %v, dead letter %v; want counted %v", r.name, got, w.dead[metrics.Future] > dead, r.counted)
		}
	}
	if len(w.pending) != 2 || !strings.Contains(string(w.pending[1].Headers[0].Value), "ahead of the time it was read, 2026-12-01T12:00:00.000Z") {
		t.Errorf("dead letters %+v", w.pending)
	}
	if w.et.MaxEventTime() != now.Add(5*time.Hour).UnixMilli() {
		t.Errorf("the partition's largest event time is %d, want the last counted one's", w.et.MaxEventTime())
	}
}

// BenchmarkPerEvent is the per-event path: decode and validate, assign the
// window, classify, count.
func BenchmarkPerEvent(b *testing.B) {
	w := newTestWorker("")
	const n = 1024
	msgs := make([]kafka.Message, n)
	base := time.Date(2026, 11, 21, 23, 45, 0, 0, time.UTC)
	for i := range msgs {
		ts := base.Add(time.Duration(i) * 100 * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
		msgs[i] = kafka.Message{Value: []byte(`{"plateNumber":"CA1234AB","vignetteStickerId":"5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11","timestamp":"` + ts + `","vehicleType":"CAR"}`)}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msgs[0].Value)))
	i := 0
	for b.Loop() {
		w.handle(msgs[i%n])
		i++
		if i%n == 0 { // a new pass through the same times would be late: restart the partition
			w.et = eventtime.NewPartition(w.c.et)
		}
	}
}

// A worker that failed once after hours of work must retry soon, not after
// the longest wait an earlier series of failures reached.
func TestBackoffResets(t *testing.T) {
	b := newBackoff(200*time.Millisecond, 10*time.Second)
	for range 10 {
		b.next()
	}
	if w := b.next(); w < 5*time.Second {
		t.Fatalf("after 10 failures the wait is %s, want at least half the limit", w)
	}
	b.reset()
	if w := b.next(); w > 200*time.Millisecond {
		t.Fatalf("after a reset the wait is %s, want at most the shortest (200ms)", w)
	}
}

// recordingStore keeps the checkpoints a worker saves (a unit test's stand-in
// for Redis: the decisions under test are the worker's, not the store's).
type recordingStore struct{ saves []state.Checkpoint }

func (s *recordingStore) Load(context.Context, int) (state.PartitionState, error) {
	return state.PartitionState{}, nil
}

func (s *recordingStore) Save(_ context.Context, cp state.Checkpoint) (int64, error) {
	s.saves = append(s.saves, cp)
	return eventtime.NoWatermark, nil
}

// When a worker saves and when it wakes the closers, on an injected clock:
// a live (caught-up) partition saves at once when its watermark passes a
// window's end and wakes the closers; one catching up saves only on the
// interval and wakes no one for a crossing; turning idle saves and wakes.
func TestSaveAndWakeDecisions(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	wakes := 0
	store := &recordingStore{}
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	et := eventtime.DefaultConfig() // 20 s windows, no out-of-orderness
	et.Watermark.IdleTimeout = 30 * time.Second
	c := New(DefaultConfig(), topics.New(topics.DefaultConfig(), nil, nil), et, store, m, slog.Default(), Options{
		Checkpoint: CheckpointConfig{Interval: time.Second},
		Now:        func() time.Time { return now },
		OnProgress: func(int) { wakes++ },
		Side:       discardSink{},
	})
	w := &worker{c: c, et: eventtime.NewPartition(et), expected: -1, highWater: -1, savedMax: eventtime.NoWatermark,
		lag: m.ConsumerLag.WithLabelValues("0"), lastAct: now}
	windowStart := now.Add(-time.Hour).Truncate(20 * time.Second).UnixMilli()
	step := func(name string, eventTime int64, offset, highWater int64, advance time.Duration, wantSaves, wantWakes int) {
		t.Helper()
		now = now.Add(advance)
		if eventTime != 0 {
			w.et.Add(eventTime, model.Car)
			w.offset, w.dirty, w.lastAct = offset, true, now
		}
		w.highWater = highWater
		if err := w.maybeSave(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(store.saves) != wantSaves || wakes != wantWakes {
			t.Fatalf("%s: %d saves and %d wakes, want %d and %d", name, len(store.saves), wakes, wantSaves, wantWakes)
		}
	}
	step("first batch, catching up: saved at once, no wake", windowStart+1000, 1, 100, 0, 1, 0)
	step("catching up, inside the window, interval not due", windowStart+5000, 2, 100, 100*time.Millisecond, 1, 0)
	step("catching up, crossing the window's end, interval not due", windowStart+21_000, 3, 100, 100*time.Millisecond, 1, 0)
	step("catching up, interval due: saved, no wake", windowStart+22_000, 4, 100, time.Second, 2, 0)
	step("caught up, inside the next window", windowStart+25_000, 100, 100, 100*time.Millisecond, 2, 0)
	step("caught up, crossing the next window's end: saved at once and woken", windowStart+41_000, 101, 101, 100*time.Millisecond, 3, 1)
	step("caught up, no news, interval due: nothing", 0, 101, 101, time.Second, 3, 1)
	step("no record for the idle timeout: saved idle and woken", 0, 101, 101, 30*time.Second, 4, 2)
	if store.saves[3].IdleFor <= 0 {
		t.Errorf("the idle save has no idle lease: %+v", store.saves[3])
	}
}

type discardSink struct{}

func (discardSink) WriteMessages(context.Context, ...kafka.Message) error { return nil }

// The leaders are looked up once for every worker, again only when a dial
// with them failed (and not again when another worker already did), and
// after forget.
func TestLeadersLookedUpOnce(t *testing.T) {
	lookups := 0
	l := leaders{lookup: func(context.Context) ([]kafka.Partition, error) {
		lookups++
		return []kafka.Partition{{ID: 0, Leader: kafka.Broker{Host: "a", Port: lookups}}, {ID: 1}}, nil
	}}
	ctx := context.Background()
	p0, gen, err := l.get(ctx, 0, -1)
	if err != nil || p0.Leader.Port != 1 {
		t.Fatalf("first get: %+v, %v", p0, err)
	}
	for range 5 {
		if _, _, err := l.get(ctx, 1, -1); err != nil {
			t.Fatal(err)
		}
	}
	if lookups != 1 {
		t.Fatalf("%d lookups for 6 gets, want 1", lookups)
	}
	// A dial with generation gen failed: look up again, once.
	if p0, _, _ = l.get(ctx, 0, gen); p0.Leader.Port != 2 || lookups != 2 {
		t.Fatalf("after a failed dial: leader %+v, %d lookups; want the new one and 2", p0.Leader, lookups)
	}
	if _, _, _ = l.get(ctx, 1, gen); lookups != 2 {
		t.Fatalf("a second worker whose dial failed with the same old generation looked up again (%d lookups)", lookups)
	}
	l.forget()
	if _, _, _ = l.get(ctx, 1, -1); lookups != 3 {
		t.Fatalf("after forget: %d lookups, want 3", lookups)
	}
	if _, _, err := l.get(ctx, 7, -1); err == nil || lookups != 4 {
		t.Fatalf("an unknown partition: %v after %d lookups; want an error after looking up once more", err, lookups)
	}
}

// A worker that gives up after failed fetches saves what it counted, but
// only saves made before the failure count as progress (which resets the
// backoff): otherwise a partition whose fetches always fail would be
// retried at the shortest wait for ever.
func TestGiveUpCountsOnlyEarlierSavesAsProgress(t *testing.T) {
	store := &recordingStore{}
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	et := eventtime.DefaultConfig()
	c := New(DefaultConfig(), topics.New(topics.DefaultConfig(), nil, nil), et, store, m, slog.Default(), Options{
		Checkpoint: CheckpointConfig{Interval: time.Second}, Side: discardSink{},
	})
	fetchErr := errors.New("fetch: multiple Read calls return no data or error")
	for _, tc := range []struct {
		name         string
		savesBefore  int
		wantProgress bool
	}{
		{"failed before any save", 0, false},
		{"failed after saving", 2, true},
	} {
		store.saves = nil
		w := &worker{c: c, et: eventtime.NewPartition(et), expected: -1, highWater: -1, savedMax: eventtime.NoWatermark,
			lag: m.ConsumerLag.WithLabelValues("0"), saves: tc.savesBefore, offset: 42}
		progressed, err := w.giveUp(fetchErr)
		if !errors.Is(err, fetchErr) {
			t.Errorf("%s: error %v, want the fetch's", tc.name, err)
		}
		if progressed != tc.wantProgress {
			t.Errorf("%s: progressed = %v, want %v", tc.name, progressed, tc.wantProgress)
		}
		if len(store.saves) != 1 || store.saves[0].Offset != 42 {
			t.Errorf("%s: saves %+v, want one at offset 42 (what was counted is kept)", tc.name, store.saves)
		}
	}
}

// failingSink refuses every write while err is set.
type failingSink struct{ err error }

func (s *failingSink) WriteMessages(context.Context, ...kafka.Message) error { return s.err }

// A partition whose side records fail to write is reported stuck after
// stuckAfter failures in a row (/readyz's side_outputs, the
// side_output_stuck gauge), not before, and cleared by the next successful
// write; the worker keeps its records and saves nothing meanwhile.
func TestSideWriteFailuresMakeThePartitionStuck(t *testing.T) {
	store := &recordingStore{}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &failingSink{err: kafka.MessageSizeTooLarge}
	c := New(DefaultConfig(), topics.New(topics.DefaultConfig(), nil, nil), eventtime.DefaultConfig(), store, m, slog.Default(), Options{
		Checkpoint: CheckpointConfig{Interval: time.Second}, Side: sink,
	})
	stuck := func() float64 { return gaugeValue(t, m.SideOutputStuck.WithLabelValues("4")) }
	w := &worker{c: c, partition: 4, et: eventtime.NewPartition(c.et), expected: -1, highWater: -1, savedMax: eventtime.NoWatermark,
		lag: m.ConsumerLag.WithLabelValues("4"), offset: 10, dirty: true}
	w.deadLetter(kafka.Message{Key: []byte("k"), Value: []byte("not json"), Offset: 9}, errors.New("malformed JSON"))
	for attempt := 1; attempt <= stuckAfter; attempt++ {
		err := w.save(context.Background(), false)
		if !errors.Is(err, ErrSideWrite) || !errors.Is(err, kafka.MessageSizeTooLarge) {
			t.Fatalf("attempt %d: error %v, want ErrSideWrite wrapping the cause", attempt, err)
		}
		c.sideFailed(4, err) // what runPartition does with the worker's error
		ready := c.SideOutputsReady()
		if attempt < stuckAfter && (ready != nil || stuck() != 0) {
			t.Fatalf("attempt %d: reported stuck too early: %v", attempt, ready)
		}
		if attempt == stuckAfter {
			if ready == nil || !strings.Contains(ready.Error(), "vehicle-topic/4: 3 failed attempts") ||
				!strings.Contains(ready.Error(), "Message Size Too Large") || stuck() != 1 {
				t.Fatalf("after %d failures: readiness %v, gauge %v", attempt, ready, stuck())
			}
		}
	}
	if len(store.saves) != 0 || len(w.pending) != 1 {
		t.Fatalf("a failed side write saved %d checkpoints and kept %d records; want none saved, the record kept", len(store.saves), len(w.pending))
	}
	sink.err = nil
	if err := w.save(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if ready := c.SideOutputsReady(); ready != nil || stuck() != 0 || len(w.pending) != 0 || w.pendingBytes != 0 {
		t.Errorf("after a successful write: readiness %v, gauge %v, %d records (%d bytes) held", ready, stuck(), len(w.pending), w.pendingBytes)
	}
}

// Side records are bounded in bytes, not in count: a worker saves once
// they reach SidePendingMaxBytes, whatever the interval.
func TestSaveWhenSideRecordsReachTheirBound(t *testing.T) {
	store := &recordingStore{}
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SidePendingMaxBytes = 64 << 10
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var written int
	c := New(cfg, topics.New(topics.DefaultConfig(), nil, nil), eventtime.DefaultConfig(), store, m, slog.Default(), Options{
		Checkpoint: CheckpointConfig{Interval: time.Hour}, Now: func() time.Time { return now }, Side: countingSink{&written},
	})
	w := &worker{c: c, et: eventtime.NewPartition(c.et), expected: -1, highWater: -1, savedMax: eventtime.NoWatermark,
		lag: m.ConsumerLag.WithLabelValues("0"), lastSave: now, lastAct: now}
	bad := kafka.Message{Key: []byte("k"), Value: make([]byte, 1000)}
	for i := range 200 {
		bad.Offset = int64(i)
		w.offset, w.dirty = int64(i+1), true
		w.deadLetter(bad, errors.New("malformed JSON"))
		if err := w.maybeSave(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 200 records of about 1,100 bytes: a save at each 64 KiB.
	if len(store.saves) != 3 || written != 3*60 {
		t.Errorf("%d saves writing %d records, want 3 saves of 60", len(store.saves), written)
	}
	if w.pendingBytes >= int64(cfg.SidePendingMaxBytes) || len(w.pending) != 20 {
		t.Errorf("%d records (%d bytes) held after the loop", len(w.pending), w.pendingBytes)
	}
}

type countingSink struct{ n *int }

func (s countingSink) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	*s.n += len(msgs)
	return nil
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var d dto.Metric
	if err := g.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetGauge().GetValue()
}

// Each save publishes the partition's watermark and idle flag; a partition
// that is not ours any more (its worker returns) leaves no series behind.
func TestPartitionWatermarkAndIdleSeries(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	et := eventtime.DefaultConfig()
	et.Watermark.MaxOutOfOrderness = 5 * time.Second
	c := New(DefaultConfig(), topics.New(topics.DefaultConfig(), nil, nil), et, &recordingStore{}, m, slog.Default(), Options{
		Checkpoint: CheckpointConfig{Interval: time.Second}, Now: func() time.Time { return now }, OnProgress: func(int) {}, Side: discardSink{},
	})
	w := &worker{c: c, partition: 7, et: eventtime.NewPartition(et), expected: -1, highWater: -1, savedMax: eventtime.NoWatermark,
		lag: m.ConsumerLag.WithLabelValues("7"), lastAct: now}
	if err := w.save(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(t, m.PartitionIdle.WithLabelValues("7")); got != 1 {
		t.Errorf("partition_idle = %v after an idle save, want 1", got)
	}
	if n := seriesOf(t, reg, "stats_processor_partition_watermark_timestamp_seconds"); n != 0 {
		t.Errorf("a partition without events has %d watermark series, want none", n)
	}
	ev := now.Add(-time.Minute)
	w.et.Add(ev.UnixMilli(), model.Car)
	if err := w.save(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	want := float64(ev.Add(-5*time.Second).UnixMilli()-1) / 1000
	if got := gaugeValue(t, m.PartitionWatermark.WithLabelValues("7")); got != want {
		t.Errorf("partition_watermark_timestamp_seconds = %v, want %v", got, want)
	}
	if got := gaugeValue(t, m.PartitionIdle.WithLabelValues("7")); got != 0 {
		t.Errorf("partition_idle = %v after a save not idle, want 0", got)
	}

	// The worker of a revoked partition returns (its context ends): its
	// series go.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.runPartition(ctx, 7, nil)
	for _, name := range []string{"stats_processor_partition_watermark_timestamp_seconds", "stats_processor_partition_idle"} {
		if n := seriesOf(t, reg, name); n != 0 {
			t.Errorf("%s: %d series after the partition was revoked, want none", name, n)
		}
	}
}

func seriesOf(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}
