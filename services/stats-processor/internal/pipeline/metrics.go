package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Metrics are the pipeline's Prometheus metrics.
type Metrics struct {
	Events          *prometheus.CounterVec
	eventsByType    [model.NumVehicleTypes]prometheus.Counter
	Late            prometheus.Counter
	DeadLetters     prometheus.Counter
	WindowsClosed   prometheus.Counter
	RecordsWritten  prometheus.Counter
	Checkpoint      prometheus.Histogram
	Fenced          prometheus.Counter
	WatermarkLag    prometheus.Gauge
	Watermark       prometheus.Gauge
	ConsumerLag     *prometheus.GaugeVec
	Assigned        prometheus.Gauge
	Errors          *prometheus.CounterVec
	kafkaErrors     prometheus.Counter
	redisErrors     prometheus.Counter
	Rebalances      prometheus.Counter
	LastCloseLeader prometheus.Gauge
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "stats_processor"
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_total",
			Help: "Valid events read and counted in a window, by vehicle type."}, []string{"type"}),
		Late: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "late_events_total",
			Help: "Valid events not counted because they were late."}),
		DeadLetters: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "dead_letters_total",
			Help: "Records sent to the dead-letter topic because they did not decode or validate."}),
		WindowsClosed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "windows_closed_total",
			Help: "Windows closed and written by this instance."}),
		RecordsWritten: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "statistics_records_written_total",
			Help: "VehicleStatistics records written to the output topic by this instance."}),
		Checkpoint: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "checkpoint_duration_seconds",
			Help: "Time to save one partition's state to Redis.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
		Fenced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "checkpoints_fenced_total",
			Help: "Checkpoints rejected because the partition moved on (rebalance) or its window closed; the partition was replayed."}),
		WatermarkLag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "watermark_lag_seconds",
			Help: "Wall clock minus the pipeline watermark."}),
		Watermark: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "watermark_timestamp_seconds",
			Help: "The pipeline watermark as a Unix time."}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "consumer_lag",
			Help: "Records between this instance's position and the end of each partition it owns."}, []string{"partition"}),
		Assigned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "assigned_partitions",
			Help: "Input partitions this instance owns."}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "errors_total",
			Help: "Errors talking to a dependency (kafka or redis); each was retried."}, []string{"dependency"}),
		Rebalances: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "rebalances_total",
			Help: "Consumer group generations this instance joined."}),
		LastCloseLeader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "closer_leader",
			Help: "1 while this instance holds the closer lease."}),
	}
	for _, t := range model.VehicleTypes() {
		m.eventsByType[t.Index()] = m.Events.WithLabelValues(t.String())
	}
	reg.MustRegister(m.Events, m.Late, m.DeadLetters, m.WindowsClosed, m.RecordsWritten, m.Checkpoint, m.Fenced,
		m.WatermarkLag, m.Watermark, m.ConsumerLag, m.Assigned, m.Errors, m.Rebalances, m.LastCloseLeader)
	m.kafkaErrors = m.Errors.WithLabelValues("kafka")
	m.redisErrors = m.Errors.WithLabelValues("redis")
	return m
}
