package main

import (
	"fmt"
	"math"
)

// Fit is a least-squares line y = Intercept + Slope·x through a series, x
// in hours, with what is needed to judge the slope against the scatter.
type Fit struct {
	// N is the number of points used (missing values are skipped).
	N int
	// Slope is the change per hour; Intercept the value at x = 0.
	Slope, Intercept float64
	// Mean is the mean of y; SpanHours the range of x used.
	Mean, SpanHours float64
	// ResidualSD is the standard deviation of the points around the line.
	ResidualSD float64
	// SlopeSE is the standard error of the slope (assuming independent
	// residuals, which a sampled resource is not quite: see Verdict).
	SlopeSE float64
}

// FitLine fits a least-squares line through the points (xs[i], ys[i]),
// skipping any where either is NaN. It needs three points and two distinct
// x values; ok is false otherwise.
func FitLine(xs, ys []float64) (f Fit, ok bool) {
	var sx, sy float64
	minX, maxX := math.Inf(1), math.Inf(-1)
	for i := range xs {
		if math.IsNaN(xs[i]) || math.IsNaN(ys[i]) {
			continue
		}
		f.N++
		sx += xs[i]
		sy += ys[i]
		minX, maxX = math.Min(minX, xs[i]), math.Max(maxX, xs[i])
	}
	if f.N < 3 || minX == maxX {
		return Fit{N: f.N}, false
	}
	n := float64(f.N)
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range xs {
		if math.IsNaN(xs[i]) || math.IsNaN(ys[i]) {
			continue
		}
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	f.Slope = sxy / sxx
	f.Intercept = my - f.Slope*mx
	f.Mean, f.SpanHours = my, maxX-minX
	var ss float64
	for i := range xs {
		if math.IsNaN(xs[i]) || math.IsNaN(ys[i]) {
			continue
		}
		r := ys[i] - (f.Intercept + f.Slope*xs[i])
		ss += r * r
	}
	f.ResidualSD = math.Sqrt(ss / (n - 2))
	f.SlopeSE = f.ResidualSD / math.Sqrt(sxx)
	return f, true
}

// Verdict is the judgement of a fitted slope.
type Verdict string

// The verdicts.
const (
	Flat      Verdict = "flat"
	Growing   Verdict = "growing"
	Shrinking Verdict = "shrinking"
	TooFew    Verdict = "too few samples"
)

// Verdict says whether the line rises or falls beyond the noise: the drift
// it predicts over the fitted span must exceed twice the scatter of the
// points around it, and the slope must be more than three standard errors
// from zero. Both, because the samples are autocorrelated (a heap between
// two GCs, a restarted instance warming up), which makes the standard error
// alone too confident, while the scatter alone ignores how many samples
// there are. A constant series is flat; one that steps up once by more than
// its noise and stays there is growing, as a leak that happened once
// would be.
func (f Fit) Verdict() Verdict {
	if f.N < 3 || f.SpanHours == 0 {
		return TooFew
	}
	drift := f.Slope * f.SpanHours
	if math.Abs(drift) <= 2*f.ResidualSD || math.Abs(f.Slope) <= 3*f.SlopeSE {
		return Flat
	}
	if drift > 0 {
		return Growing
	}
	return Shrinking
}

// RelativePerHour is the slope as a percentage of the mean per hour (NaN
// when the mean is zero).
func (f Fit) RelativePerHour() float64 {
	if f.Mean == 0 {
		return math.NaN()
	}
	return 100 * f.Slope / math.Abs(f.Mean)
}

// String is one line for the summary.
func (f Fit) String() string {
	return fmt.Sprintf("slope %s/h (%+.1f%%/h of mean %s), scatter ±%s, n=%d: %s",
		human(f.Slope, true), f.RelativePerHour(), human(f.Mean, false), human(f.ResidualSD, false), f.N, f.Verdict())
}

// human writes a number with a k/M/G suffix; signed adds a + to positives.
func human(v float64, signed bool) string {
	sign := ""
	if signed && v >= 0 {
		sign = "+"
	}
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "n/a"
	case a >= 1e9:
		return fmt.Sprintf("%s%.2fG", sign, v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%s%.2fM", sign, v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%s%.1fk", sign, v/1e3)
	case a >= 100 || a == math.Trunc(a):
		return fmt.Sprintf("%s%.0f", sign, v)
	default:
		return fmt.Sprintf("%s%.2f", sign, v)
	}
}
