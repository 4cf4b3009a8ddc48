package live

import (
	"fmt"
	"time"
)

// Point is one window record's latency (arrival − window end) at its
// window's end.
type Point struct {
	End     time.Time
	Latency time.Duration
}

// Slope is the least-squares slope of latency against window end: how many
// milliseconds the latency grows per second of the run. It is 0 with fewer
// than two distinct window ends, where no trend can be seen.
func Slope(points []Point) float64 {
	if len(points) < 2 {
		return 0
	}
	t0 := points[0].End
	var sx, sy float64
	for _, p := range points {
		sx += p.End.Sub(t0).Seconds()
		sy += float64(p.Latency) / float64(time.Millisecond)
	}
	n := float64(len(points))
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for _, p := range points {
		dx := p.End.Sub(t0).Seconds() - mx
		sxx += dx * dx
		sxy += dx * (float64(p.Latency)/float64(time.Millisecond) - my)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// The bounds of a sustainable step (Karimov et al., ICDE 2018: the latency
// stays bounded, here p99 at most 1 s with no upward trend).
const (
	// MaxP99 is the highest p99 window latency of a sustainable step.
	MaxP99 = time.Second
	// MaxSlope is the steepest latency trend of a sustainable step, in ms
	// per s: 10 ms/s is a backlog that grows by 1 % of the run's time, 0.6 s
	// over a minute.
	MaxSlope = 10.0
	// MaxShortfall is how far the loader may fall short of the asked rate
	// (a fraction of it) before the step is the loader's limit, not the
	// system's.
	MaxShortfall = 0.03
)

// Verdict is what a step of a rate ladder shows.
type Verdict int

const (
	// Sustainable: the loader held the rate, every window arrived, p99 and
	// trend within bounds.
	Sustainable Verdict = iota
	// Unsustainable: the system did not keep up at this rate.
	Unsustainable
	// LoaderLimited: the loader fell short of the asked rate; the step says
	// nothing about the system.
	LoaderLimited
)

// Step is what one step of a rate ladder measured, for Judge.
type Step struct {
	// Asked and Held are the rate asked of the loader and the one it held.
	Asked, Held float64
	P99         time.Duration
	// Slope is the latency trend, ms per s (see Slope).
	Slope float64
	// Complete is set when every measured window arrived.
	Complete bool
}

// Judge decides whether s is sustainable, and says why not.
func Judge(s Step) (Verdict, string) {
	if s.Held < s.Asked*(1-MaxShortfall) {
		return LoaderLimited, fmt.Sprintf("loader-limited: held %.0f of %.0f events/s", s.Held, s.Asked)
	}
	switch {
	case !s.Complete:
		return Unsustainable, "windows missing"
	case s.P99 > MaxP99:
		return Unsustainable, fmt.Sprintf("p99 %d ms > %d ms", s.P99.Milliseconds(), MaxP99.Milliseconds())
	case s.Slope > MaxSlope:
		return Unsustainable, fmt.Sprintf("latency rising %.1f ms/s > %.0f", s.Slope, MaxSlope)
	}
	return Sustainable, "sustainable"
}
