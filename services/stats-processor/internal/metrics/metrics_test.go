package metrics_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

func TestCountErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg); err == nil {
		t.Error("a second registration on the same registry did not fail")
	}
	cause := errors.New("connection refused")
	kafka := fmt.Errorf("fetch: %w", metrics.Failed(metrics.Kafka, cause))
	redis := metrics.Failed(metrics.Redis, cause)
	m.CountErrors(kafka)
	m.CountErrors(errors.Join(kafka, fmt.Errorf("save: %w", redis)))
	m.CountErrors(errors.New("fenced")) // not a dependency failure
	m.CountErrors(nil)
	if metrics.Failed(metrics.Redis, nil) != nil {
		t.Error("Failed(nil) is not nil")
	}
	if !errors.Is(kafka, cause) {
		t.Error("the cause is lost")
	}
	for dep, want := range map[string]float64{"kafka": 2, "redis": 1} {
		if got := value(t, m.Errors.WithLabelValues(dep)); got != want {
			t.Errorf("errors_total{dependency=%q} = %v, want %v", dep, got, want)
		}
	}
}

func TestTotals(t *testing.T) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m.AddEvents(0, 40)
	m.Events.WithLabelValues("TRUCK").Add(5)
	m.Late.Add(2)
	m.AddDeadLetters(metrics.Malformed, 1)
	m.AddDeadLetters(metrics.Future, 2)
	if ev, late, dead := m.Totals(); ev != 45 || late != 2 || dead != 3 {
		t.Errorf("totals %v %v %v", ev, late, dead)
	}
}

func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
