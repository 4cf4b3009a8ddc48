package sink

import (
	"context"
	"fmt"
	"sync"
)

// window counts records in flight against a limit. acquire and waitEmpty
// block until there is room, or nothing is left, or their context ends.
type window struct {
	mu    sync.Mutex
	limit int
	used  int
	wake  chan struct{} // closed and replaced on every release
}

func newWindow(limit int) *window {
	return &window{limit: limit, wake: make(chan struct{})}
}

// acquire takes n slots, waiting for room. A request larger than the limit
// waits for an empty window and then takes it whole, so it cannot block
// forever.
func (w *window) acquire(ctx context.Context, n int) error {
	for {
		w.mu.Lock()
		if w.used+n <= w.limit || w.used == 0 {
			w.used += n
			w.mu.Unlock()
			return nil
		}
		wake := w.wake
		w.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("wait for room among %d records in flight: %w", w.limit, ctx.Err())
		}
	}
}

// release gives n slots back and wakes every waiter.
func (w *window) release(n int) {
	w.mu.Lock()
	w.used -= n
	close(w.wake)
	w.wake = make(chan struct{})
	w.mu.Unlock()
}

// inUse returns the number of slots taken.
func (w *window) inUse() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.used
}

// waitEmpty waits until no slot is taken.
func (w *window) waitEmpty(ctx context.Context) error {
	for {
		w.mu.Lock()
		used, wake := w.used, w.wake
		w.mu.Unlock()
		if used == 0 {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("%d records not acknowledged: %w", used, ctx.Err())
		}
	}
}
