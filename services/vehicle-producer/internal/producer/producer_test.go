package producer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vehicle-stats/vehicle-stats/pkg/serde/serdetest"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/generator"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/producer"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/sink"
)

// fakeSink acknowledges everything at once unless told to fail; it keeps
// copies of the records.
type fakeSink struct {
	mu      sync.Mutex
	recs    []sink.Record
	sendErr error
	block   chan struct{} // when set, Acquire waits on it
	sends   chan int
}

func (f *fakeSink) Acquire(ctx context.Context, n int) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fakeSink) Send(ctx context.Context, recs []sink.Record, done func()) error {
	if f.sendErr != nil {
		return f.sendErr
	}
	f.mu.Lock()
	for _, r := range recs {
		f.recs = append(f.recs, sink.Record{Key: append([]byte(nil), r.Key...), Value: append([]byte(nil), r.Value...), Type: r.Type})
	}
	f.mu.Unlock()
	if f.sends != nil {
		f.sends <- len(recs)
	}
	if done != nil {
		// Acknowledged at once: the producer may reuse the bytes, and the
		// copies above must not change.
		done()
	}
	return nil
}

func (f *fakeSink) Flush(context.Context) error { return nil }

func (f *fakeSink) records() []sink.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sink.Record(nil), f.recs...)
}

var t0 = time.Date(2026, 11, 21, 23, 45, 5, 123_000_000, time.UTC)

type setup struct {
	p    *producer.Producer
	out  *fakeSink
	done chan error
}

func start(t *testing.T, cfg producer.Config, out *fakeSink, seed uint64, now func() time.Time) setup {
	t.Helper()
	gen, err := generator.New(generator.DefaultConfig(), seed)
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	p, err := producer.New(cfg, gen, out, m, slog.New(slog.NewTextHandler(io.Discard, nil)),
		producer.Options{Now: now, OnDone: func(err error) { done <- err }})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return setup{p: p, out: out, done: done}
}

func waitDone(t *testing.T, s setup) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not finish")
		return nil
	}
}

func TestCountSendsExactlyNValidRecords(t *testing.T) {
	const n = 2500 // more than two chunks, and not a multiple of one
	s := start(t, producer.Config{Rate: 0, Count: n}, &fakeSink{}, 77, func() time.Time { return t0 })
	if err := waitDone(t, s); err != nil {
		t.Fatalf("OnDone(%v)", err)
	}
	recs := s.out.records()
	if len(recs) != n {
		t.Fatalf("%d records sent, want %d", len(recs), n)
	}
	st := s.p.Status()
	if st.Generated != n || !st.Complete || st.Seed != 77 || st.Err != nil {
		t.Errorf("status %+v", st)
	}
	// Each record is a valid contract Vehicle keyed by its plate, stamped
	// by the injected clock, and in the generator's order for the seed.
	ref, _ := generator.New(generator.DefaultConfig(), 77)
	var want generator.Event
	for i, r := range recs {
		v, err := serdetest.DecodeVehicle(r.Value)
		if err != nil {
			t.Fatalf("record %d %s: %v", i, r.Value, err)
		}
		ref.Next(t0, &want)
		if string(r.Key) != v.PlateNumber || v.PlateNumber != string(want.Plate()) ||
			v.VignetteStickerID != string(want.Sticker()) || v.VehicleType != r.Type || v.VehicleType != want.Type {
			t.Fatalf("record %d: key %s, value %s; want plate %s sticker %s", i, r.Key, r.Value, want.Plate(), want.Sticker())
		}
		if !v.Timestamp.Equal(t0) {
			t.Fatalf("record %d stamped %v, want the clock's %v", i, v.Timestamp, t0)
		}
	}
}

func TestStopWhileWaitingForTheNextEvent(t *testing.T) {
	out := &fakeSink{sends: make(chan int, 10)}
	s := start(t, producer.Config{Rate: 0.001}, out, 1, nil)
	<-out.sends // the first event goes at once; the next is 1000 s away
	begin := time.Now()
	if err := s.p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("Stop took %v", d)
	}
	select {
	case err := <-s.done:
		t.Errorf("OnDone(%v) after Stop; it is for ends of the loop's own", err)
	default:
	}
	if g := s.p.Status().Generated; g != 1 {
		t.Errorf("generated %d, want 1", g)
	}
}

func TestSetRateWakesTheLoop(t *testing.T) {
	out := &fakeSink{sends: make(chan int, 1000)}
	s := start(t, producer.Config{Rate: 0.001}, out, 1, nil)
	<-out.sends
	if prev, err := s.p.SetRate(200); err != nil || prev != 0.001 {
		t.Fatalf("SetRate = %v, %v", prev, err)
	}
	deadline := time.After(5 * time.Second)
	for got := 1; got < 20; {
		select {
		case n := <-out.sends:
			got += n
		case <-deadline:
			t.Fatalf("only %d events within 5 s of raising the rate to 200/s", got)
		}
	}
	if _, err := s.p.SetRate(-3); err == nil {
		t.Error("SetRate(-3) accepted")
	}
	if r := s.p.Status().Rate; r != 200 {
		t.Errorf("rate %g after a refused change, want 200", r)
	}
}

func TestStopWhileTheWindowIsFull(t *testing.T) {
	out := &fakeSink{block: make(chan struct{})}
	s := start(t, producer.Config{Rate: 0}, out, 1, nil)
	time.Sleep(20 * time.Millisecond) // the loop is blocked in Acquire
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.p.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if g := s.p.Status().Generated; g != 0 {
		t.Errorf("generated %d while the window was full", g)
	}
}

func TestASinkFailureEndsTheLoop(t *testing.T) {
	boom := errors.New("boom")
	s := start(t, producer.Config{Rate: 0, Count: 10}, &fakeSink{sendErr: boom}, 1, nil)
	if err := waitDone(t, s); !errors.Is(err, boom) {
		t.Fatalf("OnDone(%v), want boom", err)
	}
	if st := s.p.Status(); !errors.Is(st.Err, boom) || st.Complete {
		t.Errorf("status %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (producer.Config{Rate: -1}).Validate(); err == nil {
		t.Error("negative rate accepted")
	}
	gen, _ := generator.New(generator.DefaultConfig(), 1)
	m, _ := metrics.New(prometheus.NewRegistry())
	if _, err := producer.New(producer.Config{Rate: 1e300}, gen, &fakeSink{}, m, slog.Default(), producer.Options{}); err == nil {
		t.Error("New accepted rate 1e300")
	}
}
