package consumer

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

// Each kind of bad record is dead-lettered under its reason, through the
// real per-event path (decode, the future and year-9999 checks), and
// counted under that reason in dead_letters_total.
func TestDeadLetterReasons(t *testing.T) {
	now := time.Date(2026, 11, 21, 23, 45, 0, 0, time.UTC)
	rec := func(fields string) string {
		return `{"plateNumber":"CA1234AB","vignetteStickerId":"x",` + fields + `}`
	}
	for _, tt := range []struct {
		name      string
		value     string
		maxFuture bool // watermark.max_future at its default (else 0)
		want      metrics.DeadLetterReason
	}{
		{"not JSON", `not json`, true, metrics.Malformed},
		{"trailing bytes", rec(`"timestamp":"2026-11-21T23:45:00Z","vehicleType":"CAR"`) + `x`, true, metrics.Malformed},
		{"duplicate key", rec(`"timestamp":"2026-11-21T23:45:00Z","vehicleType":"CAR","vehicleType":"BUS"`), true, metrics.Malformed},
		{"invalid UTF-8", "{\"plateNumber\":\"CA\xff\",\"timestamp\":\"2026-11-21T23:45:00Z\",\"vehicleType\":\"CAR\"}", true, metrics.Malformed},
		{"not an object", `[1,2]`, true, metrics.InvalidType},
		{"unknown vehicle type", rec(`"timestamp":"2026-11-21T23:45:00Z","vehicleType":"BOAT"`), true, metrics.InvalidType},
		{"number for a string", rec(`"timestamp":"2026-11-21T23:45:00Z","vehicleType":7`), true, metrics.InvalidType},
		{"no timestamp", rec(`"vehicleType":"CAR"`), true, metrics.MissingField},
		{"empty plate", `{"plateNumber":"","timestamp":"2026-11-21T23:45:00Z","vehicleType":"CAR"}`, true, metrics.MissingField},
		{"timestamp not RFC 3339", rec(`"timestamp":"yesterday","vehicleType":"CAR"`), true, metrics.BadTimestamp},
		{"timestamp out of range", rec(`"timestamp":-99999999999999999,"vehicleType":"CAR"`), true, metrics.BadTimestamp},
		{"year 9999 without max_future", rec(`"timestamp":"9999-12-31T23:59:59Z","vehicleType":"CAR"`), false, metrics.BadTimestamp},
		{"far future", rec(`"timestamp":"2026-11-22T23:45:00Z","vehicleType":"CAR"`), true, metrics.Future},
		{"nesting too deep", rec(`"timestamp":"2026-11-21T23:45:00Z","vehicleType":"CAR","x":` + strings.Repeat("[", 80) + strings.Repeat("]", 80)), true, metrics.TooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newTestWorker("")
			if !tt.maxFuture {
				// 7 s windows do not divide the epoch up to year 10000:
				// the last one holding 9999-12-31T23:59:59Z ends after it.
				w.c.et.Watermark.MaxFuture, w.c.et.Window.Size = 0, 7*time.Second
			}
			w.handle(kafka.Message{Value: []byte(tt.value), Time: now})
			var want [metrics.NumDeadLetterReasons]int64
			want[tt.want] = 1
			if w.dead != want {
				t.Fatalf("dead letters by reason %v, want 1 for %s; error header %q", w.dead, tt.want, errorHeader(w))
			}
			w.flushMetrics()
			if got := counterValue(t, w.c.metrics.DeadLetters.WithLabelValues(tt.want.String())); got != 1 {
				t.Errorf("dead_letters_total{reason=%q} = %v, want 1", tt.want, got)
			}
		})
	}
}

func errorHeader(w *worker) string {
	for _, m := range w.pending {
		for _, h := range m.Headers {
			if h.Key == "error" {
				return string(h.Value)
			}
		}
	}
	return ""
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}
