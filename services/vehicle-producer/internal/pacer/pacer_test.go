package pacer_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/pacer"
)

var t0 = time.Date(2026, 11, 21, 23, 45, 0, 0, time.UTC)

// run drives p like the producer's loop with a fake clock until end: it
// takes what is due, spends work per event, and sleeps as told plus a random
// oversleep of up to slack. It returns the clock time of every event.
func run(t *testing.T, p *pacer.Pacer, start, end time.Time, work, slack time.Duration, rng *rand.Rand) []time.Time {
	t.Helper()
	var out []time.Time
	now := start
	for now.Before(end) {
		n, wait := p.Take(now, 100)
		if n == 0 {
			if wait <= 0 {
				t.Fatalf("Take returned no event and wait %v", wait)
			}
			now = now.Add(wait)
			if slack > 0 {
				now = now.Add(time.Duration(rng.Int64N(int64(slack))))
			}
			continue
		}
		for range n {
			out = append(out, now)
			now = now.Add(work)
		}
	}
	return out
}

func TestRateWithoutDrift(t *testing.T) {
	for _, rate := range []float64{0.5, 1, 3, 10, 333.3, 5000} {
		p, err := pacer.New(rate)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		const seconds = 100
		// Every wake-up oversleeps by up to 3 ms and each event costs 20 µs:
		// sleeping one interval per event would lose several percent.
		got := run(t, p, t0, t0.Add(seconds*time.Second), 20*time.Microsecond, 3*time.Millisecond, rng)
		want := rate * seconds
		if math.Abs(float64(len(got))-want) > 1 {
			t.Errorf("rate %g: %d events in %d s, want %.0f (±1)", rate, len(got), seconds, want)
		}
		// No drift: event k is never issued before its slot, nor more than
		// the oversleep plus the work of a burst after it.
		interval := time.Duration(float64(time.Second) / rate)
		for k, at := range got {
			slot := t0.Add(time.Duration(float64(k) * float64(interval)))
			if late := at.Sub(slot); late < -time.Microsecond || late > 5*time.Millisecond {
				t.Fatalf("rate %g: event %d at +%v, its slot is +%v", rate, k, at.Sub(t0), slot.Sub(t0))
			}
		}
	}
}

func TestHalfPerSecondIsEveryTwoSeconds(t *testing.T) {
	p, _ := pacer.New(0.5)
	got := run(t, p, t0, t0.Add(10*time.Second), 0, 0, nil)
	want := []time.Duration{0, 2 * time.Second, 4 * time.Second, 6 * time.Second, 8 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		if d := got[i].Sub(t0); d != want[i] {
			t.Errorf("event %d at +%v, want +%v", i, d, want[i])
		}
	}
}

func TestUnlimited(t *testing.T) {
	p, _ := pacer.New(0)
	if n, wait := p.Take(t0, 512); n != 512 || wait != 0 {
		t.Fatalf("Take at rate 0 = %d, %v; want 512, 0", n, wait)
	}
}

func TestBurstAfterShortStallButNotAfterLongOne(t *testing.T) {
	p, _ := pacer.New(100)
	if n, _ := p.Take(t0, 1000); n != 1 {
		t.Fatalf("first Take = %d, want 1", n)
	}
	// 0.5 s behind: the 50 missed events come out at once.
	if n, _ := p.Take(t0.Add(500*time.Millisecond), 1000); n != 50 {
		t.Errorf("after a 0.5 s stall: %d events, want 50", n)
	}
	// 10 s behind: a fresh schedule, no burst of 1000.
	now := t0.Add(10500 * time.Millisecond)
	if n, _ := p.Take(now, 1000); n != 1 {
		t.Errorf("after a 10 s stall: %d events, want 1 (fresh schedule)", n)
	}
	if n, wait := p.Take(now, 1000); n != 0 || wait != 10*time.Millisecond {
		t.Errorf("right after: %d, %v; want 0, 10ms", n, wait)
	}
}

func TestSetRate(t *testing.T) {
	p, _ := pacer.New(1)
	p.Take(t0, 10) // event at +0
	// While waiting for +1s, the rate goes to 10/s at +0.5s: the loop is
	// woken; the next event was due 0.1 s after the last one, which is past,
	// so it is due now, and the missed slots are not made up.
	if old, err := p.SetRate(10, t0.Add(500*time.Millisecond)); err != nil || old != 1 {
		t.Fatalf("SetRate = %v, %v", old, err)
	}
	select {
	case <-p.Changed():
	default:
		t.Fatal("SetRate did not signal Changed")
	}
	if n, _ := p.Take(t0.Add(500*time.Millisecond), 10); n != 1 {
		t.Errorf("after speeding up: %d events, want 1", n)
	}
	got := run(t, p, t0.Add(500*time.Millisecond), t0.Add(1500*time.Millisecond), 0, 0, nil)
	if len(got) != 9 {
		t.Errorf("%d events from +0.6 s to +1.4 s, want 9", len(got))
	}
	// Slowing down: the next event is one new interval after the last.
	now := t0.Add(1500 * time.Millisecond)
	p.SetRate(0.1, now)
	if n, wait := p.Take(now, 10); n != 0 || wait < 9*time.Second || wait > 10*time.Second {
		t.Errorf("after slowing to 0.1/s: %d, %v; want 0 and about 10s", n, wait)
	}
	// Unlimited and back.
	p.SetRate(0, now)
	if n, _ := p.Take(now, 7); n != 7 {
		t.Errorf("unlimited: %d, want 7", n)
	}
	p.SetRate(2, now)
	if n, _ := p.Take(now, 7); n != 1 {
		t.Errorf("paced again: %d, want 1", n)
	}
	if p.Rate() != 2 {
		t.Errorf("Rate() = %v", p.Rate())
	}
}

func TestValidateRate(t *testing.T) {
	for _, r := range []float64{0, pacer.MinRate, 0.5, 1e6, pacer.MaxRate} {
		if err := pacer.ValidateRate(r); err != nil {
			t.Errorf("ValidateRate(%g) = %v", r, err)
		}
	}
	for _, r := range []float64{-1, math.NaN(), math.Inf(1), pacer.MaxRate * 2, 1e-9} {
		if err := pacer.ValidateRate(r); !errors.Is(err, pacer.ErrInvalidRate) {
			t.Errorf("ValidateRate(%g) = %v, want ErrInvalidRate", r, err)
		}
	}
	p, _ := pacer.New(3)
	if _, err := p.SetRate(-1, t0); err == nil || p.Rate() != 3 {
		t.Errorf("SetRate(-1) = %v, rate now %g", err, p.Rate())
	}
	if _, err := pacer.New(-1); err == nil {
		t.Error("New(-1) succeeded")
	}
}
