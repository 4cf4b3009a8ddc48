package httpserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
)

// counting is a check that counts its runs and fails while fail is set.
type counting struct {
	runs atomic.Int64
	fail atomic.Bool
}

func (c *counting) check(context.Context) error {
	c.runs.Add(1)
	if c.fail.Load() {
		return errors.New("dial tcp 127.0.0.1:9092: connection refused")
	}
	return nil
}

// TestReadyzRunsChecksOncePerTTL: 200 concurrent and 200 sequential
// /readyz requests run the checks once; after ReadyTTL, once more. (The
// clock is synctest's: it moves only when every goroutine waits.)
func TestReadyzRunsChecksOncePerTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ready := httpserver.NewReadiness()
		kafka, redis := &counting{}, &counting{}
		ready.Add("kafka", kafka.check)
		ready.Add("redis", redis.check)
		e := httpserver.NewEngine(httpserver.Config{}, quiet, httpserver.NewRegistry(), ready)
		probe := func() int {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			return rec.Code
		}
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				if code := probe(); code != http.StatusOK {
					t.Errorf("/readyz = %d", code)
				}
			})
		}
		wg.Wait()
		for range 200 {
			probe()
		}
		if k, r := kafka.runs.Load(), redis.runs.Load(); k != 1 || r != 1 {
			t.Errorf("400 probes ran the kafka check %d times and the redis one %d; want once each", k, r)
		}
		time.Sleep(httpserver.ReadyTTL)
		probe()
		if k := kafka.runs.Load(); k != 2 {
			t.Errorf("a probe after ReadyTTL: %d runs in all, want 2", k)
		}
	})
}

// TestReadinessSharesARunningRound: requests that come while a round runs
// wait for it rather than start their own.
func TestReadinessSharesARunningRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ready := httpserver.NewReadiness()
		var runs atomic.Int64
		release := make(chan struct{})
		ready.Add("kafka", func(context.Context) error {
			runs.Add(1)
			<-release
			return nil
		})
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				if failed := ready.Check(t.Context()); len(failed) != 0 {
					t.Errorf("failed: %v", failed)
				}
			})
		}
		synctest.Wait() // every caller waits on the round
		close(release)
		wg.Wait()
		if n := runs.Load(); n != 1 {
			t.Errorf("200 concurrent checks ran the check %d times, want 1", n)
		}
	})
}

// TestReadinessReportsChangesWithinTTL: a dependency that fails is
// reported once the result that saw it ready is ReadyTTL old, and steadily
// so (no flapping between cached and fresh answers); likewise its recovery.
func TestReadinessReportsChangesWithinTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ready := httpserver.NewReadiness()
		kafka := &counting{}
		ready.Add("kafka", kafka.check)
		ctx := t.Context()
		if failed := ready.Check(ctx); len(failed) != 0 {
			t.Fatalf("ready dependency: %v", failed)
		}
		kafka.fail.Store(true)
		if failed := ready.Check(ctx); len(failed) != 0 {
			t.Errorf("within ReadyTTL: %v, want the cached ready", failed)
		}
		time.Sleep(httpserver.ReadyTTL)
		for i := range 5 {
			if failed := ready.Check(ctx); failed["kafka"] == "" {
				t.Errorf("check %d after ReadyTTL: %v, want kafka failing", i, failed)
			}
			time.Sleep(httpserver.ReadyTTL / 3)
		}
		kafka.fail.Store(false)
		time.Sleep(httpserver.ReadyTTL)
		if failed := ready.Check(ctx); len(failed) != 0 {
			t.Errorf("recovered dependency after ReadyTTL: %v", failed)
		}
	})
}

// TestReadinessCallerGoingAway: a caller whose request ends while the
// round runs gets a failure of its own; the round goes on and its result,
// not the caller's failure, answers the next probe.
func TestReadinessCallerGoingAway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ready := httpserver.NewReadiness()
		var runs atomic.Int64
		ready.Add("kafka", func(ctx context.Context) error {
			runs.Add(1)
			select {
			case <-time.After(500 * time.Millisecond): // a slow dial that succeeds
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if failed := ready.Check(ctx); failed["kafka"] == "" {
			t.Errorf("caller that gave up first: %v, want kafka failing", failed)
		}
		// The next probe joins the round, which went on.
		if failed := ready.Check(t.Context()); len(failed) != 0 {
			t.Errorf("next probe: %v, want the round's ready", failed)
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("%d runs, want 1", n)
		}
	})
}
