package main

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFitLineRecoversALine(t *testing.T) {
	var xs, ys []float64
	for i := range 50 {
		x := float64(i) / 10
		xs = append(xs, x)
		ys = append(ys, 7-2.5*x)
	}
	xs = append(xs, 3, math.NaN())
	ys = append(ys, math.NaN(), 1000) // both skipped
	f, ok := FitLine(xs, ys)
	if !ok || f.N != 50 {
		t.Fatalf("ok %v, n %d", ok, f.N)
	}
	if math.Abs(f.Slope+2.5) > 1e-9 || math.Abs(f.Intercept-7) > 1e-9 || f.ResidualSD > 1e-9 {
		t.Errorf("fit %+v, want slope -2.5, intercept 7, no scatter", f)
	}
	if math.Abs(f.SpanHours-4.9) > 1e-9 {
		t.Errorf("span %v, want 4.9", f.SpanHours)
	}
}

func TestFitLineNeedsThreePointsAndTwoXs(t *testing.T) {
	if _, ok := FitLine([]float64{1, 2}, []float64{1, 2}); ok {
		t.Error("two points fitted")
	}
	if _, ok := FitLine([]float64{1, 1, 1}, []float64{1, 2, 3}); ok {
		t.Error("one x value fitted")
	}
	if f, _ := FitLine([]float64{1, 2, math.NaN()}, []float64{1, 2, 3}); f.Verdict() != TooFew {
		t.Errorf("verdict %s, want %s", f.Verdict(), TooFew)
	}
}

// series is 120 samples over 20 minutes (x in hours) of base + slope·x
// plus uniform noise of the given amplitude.
func series(seed uint64, base, slopePerHour, noise float64) ([]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	var xs, ys []float64
	for i := range 120 {
		x := float64(i) * 10 / 3600
		xs = append(xs, x)
		ys = append(ys, base+slopePerHour*x+noise*(2*rng.Float64()-1))
	}
	return xs, ys
}

func TestVerdicts(t *testing.T) {
	for _, c := range []struct {
		name               string
		base, slope, noise float64
		want               Verdict
	}{
		{"constant", 42, 0, 0, Flat},
		{"noise only", 50e6, 0, 5e6, Flat},
		{"leak well above the noise", 50e6, 60e6, 2e6, Growing},
		{"draining", 1000, -3000, 50, Shrinking},
		{"slope lost in the noise", 50e6, 1e6, 10e6, Flat},
	} {
		t.Run(c.name, func(t *testing.T) {
			for seed := range uint64(20) {
				f, ok := FitLine(series(seed, c.base, c.slope, c.noise))
				if !ok {
					t.Fatal("no fit")
				}
				if got := f.Verdict(); got != c.want {
					t.Fatalf("seed %d: %s (%s), want %s", seed, got, f, c.want)
				}
			}
		})
	}
}

func TestVerdictStepThatStaysIsGrowing(t *testing.T) {
	var xs, ys []float64
	for i := range 120 {
		xs = append(xs, float64(i)/360)
		y := 40.0
		if i >= 60 {
			y = 48 // eight goroutines more, for good
		}
		ys = append(ys, y)
	}
	f, _ := FitLine(xs, ys)
	if f.Verdict() != Growing {
		t.Errorf("verdict %s (%s), want growing", f.Verdict(), f)
	}
}

func TestHuman(t *testing.T) {
	for _, c := range []struct {
		v      float64
		signed bool
		want   string
	}{{52_428_800, false, "52.43M"}, {-1500, true, "-1500"}, {12_345, true, "+12.3k"}, {0.5, false, "0.50"}, {3, true, "+3"}, {math.NaN(), false, "n/a"}, {2.5e9, false, "2.50G"}} {
		if got := human(c.v, c.signed); got != c.want {
			t.Errorf("human(%v, %v) = %q, want %q", c.v, c.signed, got, c.want)
		}
	}
}
