package main_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// TestE2EWindowEndWakesCloser: a live window closes because its end was
// crossed, not because a timer fired. The processor runs with both of its
// timers at their longest (checkpoint.interval and
// checkpoint.close_interval 1m) and an idle timeout of 10 minutes, so that
// before its first tick nothing but the crossing path can close a window:
// each caught-up partition saves at once when its watermark passes the
// window's end, and that save wakes the closer (Redis pub/sub). The
// window's records must be on the output topic, exact, well before the
// first tick a minute after start; without either half of the path they
// come at the tick or later, and the test fails.
func TestE2EWindowEndWakesCloser(t *testing.T) {
	const partitions = 3
	s := newScenario(t, partitions)
	s.cfg.CheckpointInterval = time.Minute
	s.cfg.IdleTimeout = 10 * time.Minute
	s.cfg.Extra = append(s.cfg.Extra, "PROCESSOR_CHECKPOINT_CLOSE_INTERVAL=1m")

	size := s.window.Milliseconds()
	w0 := (base()/size + 1) * size // a window that starts an hour ago
	types := model.VehicleTypes()
	event := func(p, i int, at int64, typ model.VehicleType) contracttest.Record {
		return contracttest.NewRecord(p, fmt.Sprintf("W%d-%03d", p, i), i, at, typ, contracttest.EpochMillis)
	}
	// In the window, per partition: 40 events of mixed types, in order.
	inWindow := make([][]contracttest.Record, partitions)
	for p := range partitions {
		for i := range 40 {
			inWindow[p] = append(inWindow[p], event(p, i, w0+int64(i)*size/40, types[(i+p)%len(types)]))
		}
	}
	want, late, _ := contracttest.ExpectedRecords(inWindow, s.window, s.ooo)
	if late != 0 || len(want) != len(types) {
		t.Fatalf("dataset: %d late events, %d (window, type) counts; want 0 and %d", late, len(want), len(types))
	}
	// Past the window's end by more than the out-of-orderness, on every
	// partition: the watermark passes the end. The next window stays open.
	crossing := make([]contracttest.Record, partitions)
	for p := range partitions {
		crossing[p] = event(p, 999, w0+size+s.ooo.Milliseconds()+1000, model.Car)
	}

	ctx := context.Background()
	p := s.start("wake")
	started := time.Now()
	// Written after the processor started, so it reads them live, and
	// saved at its first batch.
	s.produce(ctx, contracttest.Interleave(inWindow, 1<<30)[0])
	time.Sleep(3 * time.Second)
	if got := readAll(t, s.env.Brokers, s.cfg.Output); len(got) != 0 {
		t.Fatalf("%d window records before the window's end was crossed", len(got))
	}
	s.produce(ctx, crossing)
	crossed := time.Now()

	// The first tick comes a minute after start; 40 s after it leave room
	// for a slow machine and still tell the two apart.
	deadline := started.Add(40 * time.Second)
	for {
		msgs := readAll(t, s.env.Brokers, s.cfg.Output)
		if len(msgs) >= len(want) {
			s.checkOutput(msgs, want)
			t.Logf("the window's %d records arrived within %.1f s of the crossing events (polling alone: at the first tick, %.0f s after start)",
				len(msgs), time.Since(crossed).Seconds(), time.Minute.Seconds())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d window records on the output topic %.0f s after start: the crossing did not close the window (the timers' first tick is at 60 s)\n%s",
				len(msgs), len(want), time.Since(started).Seconds(), p.Tail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
