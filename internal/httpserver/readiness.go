package httpserver

import (
	"context"
	"maps"
	"sync"
	"time"
)

// ReadyTTL is how long the result of one round of readiness checks answers
// /readyz. Probes then cost nothing whatever their rate: at most one round
// runs at a time, requests that come while it runs wait for it, and its
// result serves every request for ReadyTTL after it was obtained. A
// dependency that fails is therefore reported within ReadyTTL plus the
// round's own time (at most readyTimeout).
const ReadyTTL = time.Second

// readyTimeout bounds one round of checks.
const readyTimeout = 3 * time.Second

// CheckFunc reports whether a dependency is usable; nil means ready. It must
// return promptly when ctx is done.
type CheckFunc func(ctx context.Context) error

// Readiness holds the named checks behind /readyz and shares their results
// (see ReadyTTL). It is safe for concurrent use.
type Readiness struct {
	mu     sync.Mutex
	checks map[string]CheckFunc
	last   *round // the newest finished round, nil before the first
	next   *round // the round running, nil when none is
}

// round is one run of every check.
type round struct {
	done   chan struct{}     // closed when failed and at are set
	failed map[string]string // the failing checks and why
	at     time.Time         // when the round finished
}

// NewReadiness returns an empty set of checks: ready until one is added.
func NewReadiness() *Readiness { return &Readiness{checks: map[string]CheckFunc{}} }

// Add registers (or replaces) a named check; the next round runs it. A check may do I/O (a dial, a ping): Check runs it at most once per
// ReadyTTL, however many probes come.
func (r *Readiness) Add(name string, check CheckFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = check
	r.last = nil // not the result of this set
}

// Check returns the failing checks by name (empty when all pass): the
// result of the newest round if it is younger than ReadyTTL, else of a new
// round, started now or already running. A round runs every check
// concurrently, for at most readyTimeout, apart from ctx: a caller that
// goes away neither cuts the round short nor leaves a failure behind for
// the others. A caller whose ctx ends first gets every check as failing
// with ctx's error.
func (r *Readiness) Check(ctx context.Context) map[string]string {
	r.mu.Lock()
	if r.last != nil && time.Since(r.last.at) < ReadyTTL {
		defer r.mu.Unlock()
		return maps.Clone(r.last.failed)
	}
	rd := r.next
	if rd == nil {
		rd = &round{done: make(chan struct{})}
		r.next = rd
		go r.run(context.WithoutCancel(ctx), rd, maps.Clone(r.checks))
	}
	r.mu.Unlock()
	select {
	case <-rd.done:
		return maps.Clone(rd.failed)
	case <-ctx.Done():
		r.mu.Lock()
		defer r.mu.Unlock()
		failed := make(map[string]string, len(r.checks))
		for name := range r.checks {
			failed[name] = "the check did not finish before the request ended: " + ctx.Err().Error()
		}
		return failed
	}
}

// run runs the checks of rd and makes it the newest round.
func (r *Readiness) run(ctx context.Context, rd *round, checks map[string]CheckFunc) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed = map[string]string{}
	)
	for name, check := range checks {
		wg.Go(func() {
			if err := check(ctx); err != nil {
				mu.Lock()
				failed[name] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	rd.failed, rd.at = failed, time.Now()
	close(rd.done)
	r.next = nil
	r.last = rd
}
