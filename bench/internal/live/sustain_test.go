package live

import (
	"math"
	"testing"
	"time"
)

// TestSlope: flat, rising, falling and noisy latencies, and too few points.
func TestSlope(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	pts := func(lat ...int) []Point { // one point per 10 s window, lat in ms
		var p []Point
		for i, l := range lat {
			p = append(p, Point{End: t0.Add(time.Duration(i) * 10 * time.Second), Latency: time.Duration(l) * time.Millisecond})
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		points []Point
		want   float64
	}{
		{"none", nil, 0},
		{"one", pts(500), 0},
		{"one window, six types", append(pts(20), pts(25)[0], pts(30)[0]), 0},
		{"flat", pts(20, 20, 20, 20), 0},
		{"rising 1 s per window", pts(100, 1100, 2100, 3100), 100},
		{"falling", pts(400, 300, 200, 100), -10},
		{"noise around a flat line", pts(20, 40, 20, 40), 0.4},
	} {
		if got := Slope(tc.points); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: slope %g ms/s, want %g", tc.name, got, tc.want)
		}
	}
}

// TestJudge: each bound decides on its own, and a loader that fell short
// voids the step before anything else is looked at.
func TestJudge(t *testing.T) {
	ok := Step{Asked: 100000, Held: 99000, P99: 50 * time.Millisecond, Slope: 0.5, Complete: true}
	with := func(f func(*Step)) Step { s := ok; f(&s); return s }
	for _, tc := range []struct {
		name   string
		step   Step
		want   Verdict
		reason string
	}{
		{"within bounds", ok, Sustainable, "sustainable"},
		{"p99 at the bound", with(func(s *Step) { s.P99 = time.Second }), Sustainable, "sustainable"},
		{"p99 over", with(func(s *Step) { s.P99 = 1001 * time.Millisecond }), Unsustainable, "p99 1001 ms > 1000 ms"},
		{"rising", with(func(s *Step) { s.Slope = 10.5 }), Unsustainable, "latency rising 10.5 ms/s > 10"},
		{"falling", with(func(s *Step) { s.Slope = -40 }), Sustainable, "sustainable"},
		{"windows missing", with(func(s *Step) { s.Complete = false }), Unsustainable, "windows missing"},
		{"loader 3 % short", with(func(s *Step) { s.Held = 97000 }), Sustainable, "sustainable"},
		{"loader 4 % short", with(func(s *Step) { s.Held = 96000; s.Complete = false }), LoaderLimited, "loader-limited: held 96000 of 100000 events/s"},
	} {
		v, reason := Judge(tc.step)
		if v != tc.want || reason != tc.reason {
			t.Errorf("%s: %v %q, want %v %q", tc.name, v, reason, tc.want, tc.reason)
		}
	}
}
