package web

import (
	"time"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/api"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

// Snapshot is one "stats" event: the GET /stats answer plus live figures.
type Snapshot struct {
	api.Stats
	// EventsPerSecond is the rate at which this instance counted valid
	// events over the last RateWindow, rounded to 0.1.
	EventsPerSecond float64 `json:"eventsPerSecond"`
	// Late and DeadLetters are this instance's totals since it started.
	Late        int64 `json:"late"`
	DeadLetters int64 `json:"deadLetters"`
	// EmitDelaySeconds is how long after its end the last window this
	// instance closed was on the output topic; nil when it closed none.
	EmitDelaySeconds *float64 `json:"emitDelaySeconds"`
	// WatermarkLagSeconds is Now minus the watermark; nil without one.
	WatermarkLagSeconds *float64 `json:"watermarkLagSeconds"`
	// Now is the server's wall clock when the snapshot was taken.
	Now api.Timestamp `json:"now"`
}

// Totals are an instance's running counts, as its Prometheus counters hold
// them.
type Totals struct {
	Events, Late, DeadLetters float64
	// EmitDelay is the last window's emit delay; HasEmitDelay is false
	// until this instance closed one.
	EmitDelay    time.Duration
	HasEmitDelay bool
}

// MetricsTotals reads the totals from the processor's counters.
func MetricsTotals(m *metrics.Metrics) func() Totals {
	return func() Totals {
		var t Totals
		t.Events, t.Late, t.DeadLetters = m.Totals()
		t.EmitDelay, t.HasEmitDelay = m.LastEmitDelay()
		return t
	}
}

// rate turns samples of a monotonic counter into a per-second rate over the
// last span. It keeps only what the span needs, so it is cheap to feed every
// poll; it is not safe for concurrent use.
type rate struct {
	span    time.Duration
	samples []sample
}

type sample struct {
	at    time.Time
	value float64
}

// add records value at now and returns the rate since the oldest sample
// within span (0 until two samples at least a second apart exist). A counter
// that went down (a restart) starts over.
func (r *rate) add(now time.Time, value float64) float64 {
	if n := len(r.samples); n > 0 && value < r.samples[n-1].value {
		r.samples = r.samples[:0]
	}
	r.samples = append(r.samples, sample{now, value})
	// Drop samples older than span, keeping the newest of them as the base.
	i := 0
	for i+1 < len(r.samples) && now.Sub(r.samples[i+1].at) >= r.span {
		i++
	}
	r.samples = append(r.samples[:0], r.samples[i:]...)
	first, last := r.samples[0], r.samples[len(r.samples)-1]
	dt := last.at.Sub(first.at).Seconds()
	if dt < 1 {
		return 0
	}
	return (last.value - first.value) / dt
}

func round1(f float64) float64 {
	if f < 0.05 {
		return 0
	}
	return float64(int64(f*10+0.5)) / 10
}
