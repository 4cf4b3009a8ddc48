package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Metrics are the producer's metrics. Use New; the zero value is not usable.
type Metrics struct {
	generated prometheus.Counter
	sent      [model.NumVehicleTypes]prometheus.Counter
	errors    prometheus.Counter
	retried   prometheus.Counter
	batch     prometheus.Histogram
	latency   prometheus.Histogram
	rate      prometheus.Gauge
	inFlight  prometheus.Gauge
}

// New creates the metrics and registers them on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vehicle_producer_events_sent_total",
		Help: "Events acknowledged by Kafka (acks=all), by vehicle type.",
	}, []string{"type"})
	m := &Metrics{
		generated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vehicle_producer_events_generated_total",
			Help: "Events generated and handed to the Kafka writer.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vehicle_producer_send_errors_total",
			Help: "Failed attempts to hand events to Kafka or to get them acknowledged; the events are retried.",
		}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vehicle_producer_events_retried_total",
			Help: "Events sent again after a failed attempt (each may be a duplicate if only the ack was lost).",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vehicle_producer_batch_size_events",
			Help:    "Events per acknowledged produce request (one partition).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 .. 65536
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vehicle_producer_send_latency_seconds",
			Help:    "Time from handing a batch's oldest event to the Kafka writer to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. 16 s
		}),
		rate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vehicle_producer_rate_events_per_second",
			Help: "Target rate in events per second; 0 means as fast as possible.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vehicle_producer_events_in_flight",
			Help: "Events handed to the Kafka writer and not yet acknowledged.",
		}),
	}
	for _, t := range model.VehicleTypes() {
		m.sent[t.Index()] = sent.WithLabelValues(t.String())
	}
	for _, c := range []prometheus.Collector{sent, m.generated, m.errors, m.retried, m.batch, m.latency, m.rate, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register producer metrics: %w", err)
		}
	}
	return m, nil
}

// Generated counts n events handed to the writer.
func (m *Metrics) Generated(n int) { m.generated.Add(float64(n)) }

// Acked records one acknowledged produce request: its events by type and the
// age of its oldest event.
func (m *Metrics) Acked(byType *[model.NumVehicleTypes]int, total int, latency time.Duration) {
	for i, n := range byType {
		if n > 0 {
			m.sent[i].Add(float64(n))
		}
	}
	m.batch.Observe(float64(total))
	m.latency.Observe(latency.Seconds())
}

// Failed records one failed attempt that puts n events up for a retry (n may
// be 0 when nothing had been handed over yet).
func (m *Metrics) Failed(n int) {
	m.errors.Inc()
	m.retried.Add(float64(n))
}

// SetRate records the target rate.
func (m *Metrics) SetRate(r float64) { m.rate.Set(r) }

// SetInFlight records the number of unacknowledged events.
func (m *Metrics) SetInFlight(n int) { m.inFlight.Set(float64(n)) }
