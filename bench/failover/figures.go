package main

import (
	"slices"
	"time"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/live"
)

// figures are one run's measurements around the fault at t.
type figures struct {
	t time.Time
	// before is the median emit delay of the windows ending in the 10 s
	// before t: the delay without a fault, for scale.
	before time.Duration
	// next is the end of the first window ending after t, nextAt when its
	// last record arrived; zero when none arrived.
	next, nextAt time.Time
	// recovery is nextAt − max(t, next); toNext is nextAt − t.
	recovery, toNext time.Duration
	// maxDelay is the largest emit delay among the windows ending in
	// [t, t + observe], of the window ending at maxEnd.
	maxDelay time.Duration
	maxEnd   time.Time
}

// measureFigures computes the figures from the arrivals of the measured
// window records: a window's arrival is its last record's, its emit delay
// that arrival − its end.
func measureFigures(measured []live.Arrival, t time.Time, observe time.Duration) figures {
	type window struct{ end, at time.Time }
	byStart := map[int64]window{}
	for _, a := range measured {
		w := byStart[a.W.Start]
		w.end = a.End
		if a.At.After(w.at) {
			w.at = a.At
		}
		byStart[a.W.Start] = w
	}
	windows := make([]window, 0, len(byStart))
	for _, w := range byStart {
		windows = append(windows, w)
	}
	slices.SortFunc(windows, func(a, b window) int { return a.end.Compare(b.end) })
	f := figures{t: t}
	var before []time.Duration
	for _, w := range windows {
		delay := w.at.Sub(w.end)
		switch {
		case w.end.Before(t):
			if !w.end.Before(t.Add(-10 * time.Second)) {
				before = append(before, delay)
			}
			continue
		case f.next.IsZero() && w.end.After(t):
			f.next, f.nextAt = w.end, w.at
			f.recovery = w.at.Sub(later(t, w.end))
			f.toNext = w.at.Sub(t)
		}
		if !w.end.After(t.Add(observe)) && delay > f.maxDelay {
			f.maxDelay, f.maxEnd = delay, w.end
		}
	}
	if len(before) > 0 {
		slices.Sort(before)
		f.before = before[len(before)/2]
	}
	return f
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
