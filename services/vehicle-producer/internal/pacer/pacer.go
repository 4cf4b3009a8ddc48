package pacer

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Rate bounds. 0 means as fast as possible; otherwise the rate must lie in
// MinRate..MaxRate events per second.
const (
	// MinRate is the slowest positive rate: one event every 1000 s. Slower
	// rates make intervals that overflow durations and tests that never end.
	MinRate = 0.001
	// MaxRate is the fastest paced rate. It is far above what one producer
	// can send; use 0 for "as fast as possible".
	MaxRate = 10_000_000
)

// MaxLag is how far behind its schedule a loop may fall before the Pacer
// gives up on the missed events and starts a fresh schedule at the current
// time.
const MaxLag = time.Second

// ErrInvalidRate is wrapped by every rate ValidateRate refuses.
var ErrInvalidRate = errors.New("invalid rate")

// ValidateRate says whether r is a usable rate: 0, or a finite number in
// MinRate..MaxRate.
func ValidateRate(r float64) error {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return fmt.Errorf("%w: must be a finite number, got %g", ErrInvalidRate, r)
	case r < 0:
		return fmt.Errorf("%w: must not be negative, got %g", ErrInvalidRate, r)
	case r > MaxRate:
		return fmt.Errorf("%w: %g is too large, the most is %g events per second (0 = as fast as possible)", ErrInvalidRate, r, float64(MaxRate))
	case r > 0 && r < MinRate:
		return fmt.Errorf("%w: %g is too small, the least is %g events per second (0 = as fast as possible)", ErrInvalidRate, r, MinRate)
	}
	return nil
}

// Pacer hands out events on schedule. Create one with New.
type Pacer struct {
	mu      sync.Mutex
	rate    float64
	anchor  time.Time // when event 0 of the current schedule is due
	issued  uint64    // events of the current schedule handed out
	started bool      // anchor is set
	changed chan struct{}
}

// New returns a Pacer at rate r (see ValidateRate). The first event is due
// at the first call to Take.
func New(r float64) (*Pacer, error) {
	if err := ValidateRate(r); err != nil {
		return nil, err
	}
	return &Pacer{rate: r, changed: make(chan struct{}, 1)}, nil
}

// Rate returns the current rate, 0 for unlimited.
func (p *Pacer) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate
}

// Changed receives a value after SetRate changed the rate, so that a loop
// waiting for its next event can wake up and ask again.
func (p *Pacer) Changed() <-chan struct{} { return p.changed }

// SetRate changes the rate from now on and returns the old one. The next
// event is due one new interval after the last event issued, or now if that
// is already past (the missed slots are not made up). An invalid rate is
// refused and the old one kept.
func (p *Pacer) SetRate(r float64, now time.Time) (old float64, err error) {
	if err := ValidateRate(r); err != nil {
		return 0, err
	}
	p.mu.Lock()
	old = p.rate
	if p.started {
		next := now
		if old > 0 && r > 0 && p.issued > 0 {
			last := p.due(p.issued - 1)
			if n := last.Add(interval(r)); n.After(now) {
				next = n
			}
		}
		p.anchor, p.issued = next, 0
	}
	p.rate = r
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
	return old, nil
}

// Take claims the events due at now, at most limit (> 0), and returns how
// many it claimed. When none is due it returns 0 and how long until the next
// one is; the caller waits that long (or until Changed) and asks again. At
// rate 0 every call claims limit events.
func (p *Pacer) Take(now time.Time, limit int) (n int, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate == 0 {
		return limit, 0
	}
	if !p.started || now.Sub(p.due(p.issued)) > MaxLag {
		p.anchor, p.issued, p.started = now, 0, true
	}
	elapsed := now.Sub(p.anchor)
	due := uint64(0)
	if elapsed >= 0 {
		due = uint64(math.Floor(elapsed.Seconds()*p.rate)) + 1
	}
	if due <= p.issued {
		wait = p.due(p.issued).Sub(now)
		if wait > 0 {
			return 0, wait
		}
		// Floating-point rounding put the next event right at now.
		due = p.issued + 1
	}
	n = int(min(due-p.issued, uint64(limit)))
	p.issued += uint64(n)
	return n, 0
}

// interval is the time between two events at rate r > 0.
func interval(r float64) time.Duration {
	return time.Duration(math.Ceil(1e9 / r))
}

// due returns when event k of the current schedule is due.
func (p *Pacer) due(k uint64) time.Time {
	return p.anchor.Add(time.Duration(math.Ceil(float64(k) / p.rate * 1e9)))
}
