package sink

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	w := newWindow(10)
	ctx := context.Background()
	if err := w.acquire(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if err := w.acquire(ctx, 4); err != nil {
		t.Fatal(err)
	}
	// Full: the next acquire waits until a release makes room.
	got := make(chan error, 1)
	go func() { got <- w.acquire(ctx, 3) }()
	select {
	case err := <-got:
		t.Fatalf("acquire on a full window returned %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	w.release(2) // 8 used: still no room for 3
	select {
	case err := <-got:
		t.Fatalf("acquire(3) with 2 free returned %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	w.release(4)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if n := w.inUse(); n != 7 {
		t.Fatalf("in use %d, want 7", n)
	}

	// A cancelled wait gives up and takes nothing.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := w.acquire(cctx, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire with an expiring context = %v", err)
	}
	if err := w.waitEmpty(cctx); err == nil {
		t.Fatal("waitEmpty returned nil with 7 in use")
	}

	// waitEmpty returns once everything is released.
	empty := make(chan error, 1)
	go func() { empty <- w.waitEmpty(ctx) }()
	w.release(3)
	w.release(4)
	if err := <-empty; err != nil {
		t.Fatal(err)
	}
	// A request larger than the window goes through when it is empty.
	if err := w.acquire(ctx, 25); err != nil || w.inUse() != 25 {
		t.Fatalf("oversized acquire = %v, in use %d", err, w.inUse())
	}
}
