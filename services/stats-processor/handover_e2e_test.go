package main_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// TestE2EGracefulStopLeaseHolder: two instances under live traffic (events
// stamped with the wall clock, 5 s windows); the closer lease holder gets
// SIGTERM a second before a window's end. The windows after it close on time:
// the holder closes them while its successor's grace runs, then hands the
// lease over. (A holder that gave the lease up at once left its successor
// to wait LeaseTTL + WriteBound, 11.5 s, before closing anything: the
// window after the SIGTERM came ~10 s late.) Counts stay exact. A window's
// delay is counted from when the first event that lets it close (its end
// + the out-of-orderness) was written, so that a producer slowed by a busy
// machine does not count; the bound, 5 s, is generous on purpose, and
// bench/failover measures the figure.
func TestE2EGracefulStopLeaseHolder(t *testing.T) {
	const partitions = 4
	s := newScenario(t, partitions)
	s.cfg.Window, s.window = 5*time.Second, 5*time.Second
	s.cfg.MaxOutOfOrderness, s.ooo = 500*time.Millisecond, 500*time.Millisecond
	ctx := context.Background()
	procs := map[string]*proc.Service{"a": s.start("a"), "b": s.start("b")}

	stopProducing := s.produceLive(ctx, partitions)
	arrived, stopWatching := s.watchArrivals()
	defer stopWatching()

	rdb := redis.NewClient(&redis.Options{Addr: s.env.RedisAddr})
	defer rdb.Close()
	lease := state.NewKeys(s.cfg.KeyPrefix, s.cfg.Input).Closer()
	time.Sleep(12 * time.Second) // a few windows close: the pipeline is live
	v, _ := rdb.Get(ctx, lease).Result()
	_, holder, _ := strings.Cut(v, ":") // "<token>:<instance id>"
	if procs[holder] == nil {
		t.Fatalf("neither instance holds the closer lease %s (%q)", lease, v)
	}
	size := s.window.Milliseconds()
	nextEnd := (time.Now().UnixMilli()/size + 1) * size
	if time.Until(time.UnixMilli(nextEnd)) < 1500*time.Millisecond {
		nextEnd += size
	}
	time.Sleep(time.Until(time.UnixMilli(nextEnd - 1000)))
	sigterm := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- procs[holder].Stop(30 * time.Second) }()
	t.Logf("SIGTERM to %s, the closer lease holder, %d ms before a window's end", holder, nextEnd-sigterm.UnixMilli())

	time.Sleep(20 * time.Second)
	recs, written := stopProducing()
	if err := <-stopped; err != nil {
		t.Fatalf("the lease holder did not stop cleanly: %v\n%s", err, procs[holder].Tail(30))
	}
	want, late, _ := contracttest.ExpectedRecords(recs, s.window, s.ooo)
	if late != 0 {
		t.Logf("%d late events in the live data", late)
	}
	s.waitOutput(want)

	// Every window that ended in the 17 s after the SIGTERM (the handover
	// takes about 12) arrived within 5 s of the first event that let it
	// close.
	at := arrived()
	for end := nextEnd; end <= sigterm.Add(17*time.Second).UnixMilli(); end += size {
		got, ok := at[end-size]
		crossed, wrote := written(end + s.ooo.Milliseconds())
		if !ok || !wrote {
			t.Errorf("the window ending %d ms after the SIGTERM never arrived (%v) or never could close (%v)", end-sigterm.UnixMilli(), ok, wrote)
			continue
		}
		delay := got.Sub(crossed)
		t.Logf("window ending %5d ms after the SIGTERM: on the output topic %5d ms after its end, %5d ms after the event that let it close was written",
			end-sigterm.UnixMilli(), got.Sub(time.UnixMilli(end)).Milliseconds(), delay.Milliseconds())
		if delay > 5*time.Second {
			t.Errorf("the window ending %d ms after the SIGTERM arrived %s after it could close: the successor waited for the lease", end-sigterm.UnixMilli(), delay.Round(time.Millisecond))
		}
	}
	survivor := map[string]string{"a": "b", "b": "a"}[holder]
	stop(t, procs[survivor])
}

// produceLive writes one event stamped with the wall clock to every
// partition every 20 ms until the returned function is called, which
// returns what was written, and a function that tells when the first event
// stamped at or after a time was written (acked) to every partition.
func (s *scenario) produceLive(ctx context.Context, partitions int) func() ([][]contracttest.Record, func(stamp int64) (time.Time, bool)) {
	data := make([][]contracttest.Record, partitions)
	var stamps []int64
	var acked []time.Time
	done, finished := make(chan struct{}), make(chan error, 1)
	w := s.writer()
	types := model.VehicleTypes()
	go func() {
		defer w.Close()
		for i := 0; ; i++ {
			select {
			case <-done:
				finished <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
			now := time.Now().UnixMilli()
			batch := make([]contracttest.Record, partitions)
			for p := range partitions {
				batch[p] = contracttest.NewRecord(p, fmt.Sprintf("L%d-%06d", p, i), i, now, types[(i+p)%len(types)], contracttest.EpochMillis)
			}
			if err := writeRecords(ctx, w, batch); err != nil {
				finished <- err
				return
			}
			for p, r := range batch {
				data[p] = append(data[p], r)
			}
			stamps, acked = append(stamps, now), append(acked, time.Now())
		}
	}()
	return func() ([][]contracttest.Record, func(int64) (time.Time, bool)) {
		close(done)
		if err := <-finished; err != nil {
			s.t.Fatalf("produce: %v", err)
		}
		return data, func(stamp int64) (time.Time, bool) {
			i, _ := slices.BinarySearch(stamps, stamp)
			if i == len(stamps) {
				return time.Time{}, false
			}
			return acked[i], true
		}
	}
}

// watchArrivals polls the output topic every 100 ms and notes by when
// each window's first record was there (the end of the read that saw it;
// by the window's start).
func (s *scenario) watchArrivals() (func() map[int64]time.Time, func()) {
	var mu sync.Mutex
	at := map[int64]time.Time{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var starts []int64
			_ = contracttest.ReadAll(ctx, s.env.Brokers, s.cfg.Output, func(m kafka.Message) {
				_, start, _ := strings.Cut(string(m.Key), ":")
				ms, _ := strconv.ParseInt(start, 10, 64)
				starts = append(starts, ms)
			})
			cancel()
			now := time.Now()
			mu.Lock()
			for _, ms := range starts {
				if _, ok := at[ms]; !ok {
					at[ms] = now
				}
			}
			mu.Unlock()
		}
	})
	return func() map[int64]time.Time {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(at)
		}, func() {
			close(done)
			wg.Wait()
		}
}
