package metrics

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Metrics are the processor's Prometheus metrics. The consuming side adds
// events, late events, dead letters, checkpoints and lag; the closing side
// windows, records and the watermark; both count dependency errors through
// CountErrors.
type Metrics struct {
	Events       *prometheus.CounterVec
	eventsByType [model.NumVehicleTypes]prometheus.Counter
	Late         prometheus.Counter
	// DeadLetters counts records sent to the dead-letter topic, by reason
	// (DeadLetterReason); every reason's series exists from the start, at 0.
	DeadLetters    *prometheus.CounterVec
	deadByReason   [NumDeadLetterReasons]prometheus.Counter
	WindowsClosed  prometheus.Counter
	RecordsWritten prometheus.Counter
	Checkpoint     prometheus.Histogram
	Fenced         prometheus.Counter
	// FetchRedials counts fetch connections dialed again after kafka-go
	// found them out of step (a known kafka-go flaw with fetches at the
	// log end); nothing is lost or read twice.
	FetchRedials prometheus.Counter
	// SharedFetches counts fetch requests that carried many partitions
	// (an instance owning more than kafka.fetch_shared_above).
	SharedFetches   prometheus.Counter
	WatermarkLag    prometheus.Gauge
	Watermark       prometheus.Gauge
	ConsumerLag     *prometheus.GaugeVec
	Assigned        prometheus.Gauge
	Errors          *prometheus.CounterVec
	errorsByDep     [numDependencies]prometheus.Counter
	Rebalances      prometheus.Counter
	LastCloseLeader prometheus.Gauge
	// EmitDelay is how long after a window's end its records were on the
	// output topic (acknowledged), wall clock; ObserveEmitDelay feeds it.
	EmitDelay prometheus.Histogram
	lastEmit  atomic.Int64 // the last emit delay in µs, -1 before any
	// OffsetBeyondEnd is 1 for each partition whose saved offset lies
	// beyond the end of its log (the topic was deleted and recreated, or
	// records were lost): it cannot go on without `stats-processor reset`.
	OffsetBeyondEnd *prometheus.GaugeVec
	// DeadLettersTruncated and LateTruncated count side records whose
	// value was cut to fit their topic's max.message.bytes (headers
	// truncated and original-size), per acknowledged write.
	DeadLettersTruncated prometheus.Counter
	LateTruncated        prometheus.Counter
	// SideOutputStuck is 1 for each owned partition whose dead-letter and
	// late records failed to write several times in a row: it reads no
	// further until the write succeeds.
	SideOutputStuck *prometheus.GaugeVec
	// LiveStreamsRefused counts live streams (GET /stats/stream) refused,
	// by the limit that refused them: "client" (live.max_streams_per_client)
	// or "total" (live.max_streams).
	LiveStreamsRefused *prometheus.CounterVec
	// PartitionWatermark and PartitionIdle are each owned partition's
	// watermark (Unix time, absent before its first event) and idle flag
	// as its last checkpoint saved them; a partition's series go when it
	// is revoked (ForgetPartition).
	PartitionWatermark *prometheus.GaugeVec
	PartitionIdle      *prometheus.GaugeVec
	// OutputWrite is how long one write of statistics records to the
	// output topic took, until acknowledged or failed.
	OutputWrite prometheus.Histogram
}

// New registers the metrics on reg; it fails when one is registered there
// already.
func New(reg prometheus.Registerer) (*Metrics, error) {
	const ns = "stats_processor"
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_total",
			Help: "Valid events read and counted in a window, by vehicle type."}, []string{"type"}),
		Late: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "late_events_total",
			Help: "Valid events not counted because they were late."}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dead_letters_total",
			Help: "Records sent to the dead-letter topic because they did not decode or validate, by reason (malformed, invalid_type, missing_field, bad_timestamp, future, too_large)."}, []string{"reason"}),
		WindowsClosed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "windows_closed_total",
			Help: "Windows closed and written by this instance."}),
		RecordsWritten: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "statistics_records_written_total",
			Help: "VehicleStatistics records written to the output topic by this instance."}),
		Checkpoint: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "checkpoint_duration_seconds",
			Help: "Time to save one partition's state to Redis.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
		FetchRedials: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "fetch_redials_total",
			Help: "Fetch connections dialed again after a broken or out-of-step response; the partition goes on where it was."}),
		SharedFetches: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "shared_fetches_total",
			Help: "Fetch requests that carried every waiting partition of one broker (instances owning more than kafka.fetch_shared_above partitions)."}),
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
		EmitDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "window_emit_delay_seconds",
			Help:    "Wall-clock time from a window's end until its records were acknowledged on the output topic.",
			Buckets: []float64{0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600}}),
		OffsetBeyondEnd: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "offset_beyond_log_end",
			Help: "1 for an owned partition whose saved offset is beyond its log end (topic recreated?); see stats-processor reset."}, []string{"partition"}),
		DeadLettersTruncated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "dead_letters_truncated_total",
			Help: "Dead letters written with their value cut to fit the dead-letter topic's max.message.bytes (headers truncated, original-size)."}),
		LateTruncated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "late_events_truncated_total",
			Help: "Late events written with their value cut to fit the late topic's max.message.bytes (headers truncated, original-size)."}),
		SideOutputStuck: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "side_output_stuck",
			Help: "1 for an owned partition whose dead-letter/late write failed several times in a row; it reads no further until the write succeeds (see /readyz)."}, []string{"partition"}),
		LiveStreamsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "live_streams_refused_total",
			Help: "Live streams refused: limit=client (live.max_streams_per_client, 429) or total (live.max_streams, 503)."}, []string{"limit"}),
		PartitionWatermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "partition_watermark_timestamp_seconds",
			Help: "The watermark of each input partition this instance owns, as its last checkpoint saved it (Unix time)."}, []string{"partition"}),
		PartitionIdle: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "partition_idle",
			Help: "1 for an owned input partition saved as idle (caught up, no record for watermark.idle_timeout): it does not hold the pipeline watermark back."}, []string{"partition"}),
		OutputWrite: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "output_write_duration_seconds",
			Help:    "Time to write one batch of statistics records to the output topic, until acknowledged (or failed).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}), // 1 ms .. 16 s
	}
	for _, t := range model.VehicleTypes() {
		m.eventsByType[t.Index()] = m.Events.WithLabelValues(t.String())
	}
	for _, c := range []prometheus.Collector{m.Events, m.Late, m.DeadLetters, m.WindowsClosed, m.RecordsWritten, m.Checkpoint,
		m.Fenced, m.FetchRedials, m.SharedFetches, m.WatermarkLag, m.Watermark, m.ConsumerLag, m.Assigned, m.Errors, m.Rebalances, m.LastCloseLeader, m.EmitDelay, m.OffsetBeyondEnd,
		m.DeadLettersTruncated, m.LateTruncated, m.SideOutputStuck, m.LiveStreamsRefused, m.PartitionWatermark, m.PartitionIdle, m.OutputWrite} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	for d := range numDependencies {
		m.errorsByDep[d] = m.Errors.WithLabelValues(d.String())
	}
	for r := range NumDeadLetterReasons {
		m.deadByReason[r] = m.DeadLetters.WithLabelValues(r.String())
	}
	m.lastEmit.Store(-1)
	return m, nil
}

// AddEvents adds n counted events of the vehicle type with index i.
func (m *Metrics) AddEvents(i int, n int64) { m.eventsByType[i].Add(float64(n)) }

// AddDeadLetters adds n records sent to the dead-letter topic for reason r.
func (m *Metrics) AddDeadLetters(r DeadLetterReason, n int64) { m.deadByReason[r].Add(float64(n)) }

// SetPartition records an owned partition's watermark (epoch ms;
// math.MinInt64, eventtime.NoWatermark, while it has none) and idle flag as
// its checkpoint saved them.
func (m *Metrics) SetPartition(partition int, watermark int64, idle bool) {
	p := strconv.Itoa(partition)
	if watermark != math.MinInt64 {
		m.PartitionWatermark.WithLabelValues(p).Set(float64(watermark) / 1000)
	}
	v := 0.0
	if idle {
		v = 1
	}
	m.PartitionIdle.WithLabelValues(p).Set(v)
}

// ForgetPartition deletes the per-partition series of a partition this
// instance no longer owns, so that 240 partitions moving between instances
// leave no stale series behind.
func (m *Metrics) ForgetPartition(partition int) {
	p := strconv.Itoa(partition)
	m.PartitionWatermark.DeleteLabelValues(p)
	m.PartitionIdle.DeleteLabelValues(p)
}

// DeadLetterReason is why a record went to the dead-letter topic: the
// dead_letters_total label. The set is fixed, so that alerts and panels can
// name each reason; the consumer decides a record's reason in one place.
type DeadLetterReason int

// The reasons a record is dead-lettered.
const (
	// Malformed: not JSON, or JSON this service refuses (duplicate key,
	// invalid UTF-8, not an object).
	Malformed DeadLetterReason = iota
	// InvalidType: an unknown vehicle type, or a field of the wrong JSON
	// type.
	InvalidType
	// MissingField: a required field absent or empty.
	MissingField
	// BadTimestamp: a timestamp that is not RFC 3339 or is out of range.
	BadTimestamp
	// Future: an event time too far ahead of its record's timestamp
	// (watermark.max_future).
	Future
	// TooLarge: a record nesting deeper than the decoder's limit.
	TooLarge
	// NumDeadLetterReasons is the number of reasons.
	NumDeadLetterReasons
)

var deadLetterReasons = [NumDeadLetterReasons]string{"malformed", "invalid_type", "missing_field", "bad_timestamp", "future", "too_large"}

func (r DeadLetterReason) String() string {
	if r < 0 || r >= NumDeadLetterReasons {
		return "malformed"
	}
	return deadLetterReasons[r]
}

// Dependency is what a failure came from: the errors_total label.
type Dependency int

// The dependencies whose errors are counted.
const (
	Kafka Dependency = iota
	Redis
	numDependencies
)

func (d Dependency) String() string {
	if d == Redis {
		return "redis"
	}
	return "kafka"
}

// DependencyError is a failure talking to a dependency.
type DependencyError struct {
	Dependency Dependency
	Err        error
}

func (e *DependencyError) Error() string { return e.Err.Error() }

// Unwrap returns the failure.
func (e *DependencyError) Unwrap() error { return e.Err }

// Failed marks err, when not nil, as a failure of dep, for CountErrors; it
// returns nil for nil.
func Failed(dep Dependency, err error) error {
	if err == nil {
		return nil
	}
	return &DependencyError{Dependency: dep, Err: err}
}

// CountErrors is the one place errors_total grows: by one for every
// dependency failure (marked with Failed) in err's tree, so a Kafka failure
// joined with the Redis failure of the save that followed counts once for
// each.
func (m *Metrics) CountErrors(err error) {
	var de *DependencyError
	switch {
	case err == nil:
	case errors.As(err, &de) && de == err:
		m.errorsByDep[de.Dependency].Inc()
		m.CountErrors(de.Err)
	default:
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				m.CountErrors(e)
			}
		case interface{ Unwrap() error }:
			m.CountErrors(u.Unwrap())
		}
	}
}

// ObserveEmitDelay records that a window's records were acknowledged d
// after the window's end.
func (m *Metrics) ObserveEmitDelay(d time.Duration) {
	m.EmitDelay.Observe(d.Seconds())
	m.lastEmit.Store(d.Microseconds())
}

// LastEmitDelay is the delay ObserveEmitDelay last recorded on this
// instance (only the closer's holder records any), and whether there is one.
func (m *Metrics) LastEmitDelay() (time.Duration, bool) {
	us := m.lastEmit.Load()
	if us < 0 {
		return 0, false
	}
	return time.Duration(us) * time.Microsecond, true
}

// Totals are an instance's running counts since it started: valid events
// counted, late events, dead letters.
func (m *Metrics) Totals() (events, late, deadLetters float64) {
	for _, c := range m.eventsByType {
		events += counterValue(c)
	}
	for _, c := range m.deadByReason {
		deadLetters += counterValue(c)
	}
	return events, counterValue(m.Late), deadLetters
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
