package consumer

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cc := DefaultConfig()
	cc.StartOffset = "middle"
	cc.SessionTimeout = time.Second
	// Keys are relative to the component: the service puts them under kafka.
	for _, c := range []struct {
		err  error
		keys []string
	}{
		{cc.Validate(), []string{"start_offset", "session_timeout"}},
	} {
		for _, key := range c.keys {
			if c.err == nil || !strings.Contains("\n"+c.err.Error(), "\n"+key+":") {
				t.Errorf("error lacks %s: %v", key, c.err)
			}
		}
	}
}

func newTestWorker(late string) *worker {
	tc := topics.DefaultConfig()
	tc.LateTopic = late
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	c := New(DefaultConfig(), topics.New(tc, nil, nil), eventtime.DefaultConfig(), nil, m, slog.Default(), Options{})
	return &worker{c: c, et: eventtime.NewPartition(c.et)}
}

func TestHandle(t *testing.T) {
	w := newTestWorker("late")
	good := `{"plateNumber":"CA1234AB","vignetteStickerId":"x","timestamp":"2026-11-21T23:45:25.000Z","vehicleType":"TRUCK"}`
	old := `{"plateNumber":"CA1234AB","vignetteStickerId":"x","timestamp":"2026-11-21T23:45:05.000Z","vehicleType":"CAR"}`
	w.handle(kafka.Message{Key: []byte("CA1234AB"), Value: []byte(good), Offset: 1})
	w.handle(kafka.Message{Key: []byte("CA1234AB"), Value: []byte(old), Offset: 2})
	w.handle(kafka.Message{Key: []byte("k"), Value: []byte(`{"plateNumber":"X"}`), Offset: 3})
	if w.counted[model.Truck.Index()] != 1 || w.late != 1 || w.dead != 1 {
		t.Fatalf("counted %v late %d dead %d", w.counted, w.late, w.dead)
	}
	if len(w.pending) != 2 || w.pending[0].Topic != "late" || w.pending[1].Topic != topics.DefaultConfig().DeadLetterTopic {
		t.Fatalf("pending %+v", w.pending)
	}
	h := map[string]string{}
	for _, x := range w.pending[1].Headers {
		h[x.Key] = string(x.Value)
	}
	if h["source-offset"] != "3" || h["source-partition"] != "0" || !strings.Contains(h["error"], "timestamp") {
		t.Errorf("dead-letter headers %v", h)
	}
}

// BenchmarkPerEvent is the per-event path: decode and validate, assign the
// window, classify, count.
func BenchmarkPerEvent(b *testing.B) {
	w := newTestWorker("")
	const n = 1024
	msgs := make([]kafka.Message, n)
	base := time.Date(2026, 11, 21, 23, 45, 0, 0, time.UTC)
	for i := range msgs {
		ts := base.Add(time.Duration(i) * 100 * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
		msgs[i] = kafka.Message{Value: []byte(`{"plateNumber":"CA1234AB","vignetteStickerId":"5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11","timestamp":"` + ts + `","vehicleType":"CAR"}`)}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msgs[0].Value)))
	i := 0
	for b.Loop() {
		w.handle(msgs[i%n])
		i++
		if i%n == 0 { // a new pass through the same times would be late: restart the partition
			w.et = eventtime.NewPartition(w.c.et)
		}
	}
}

// A worker that failed once after hours of work must retry soon, not after
// the longest wait an earlier series of failures reached.
func TestBackoffResets(t *testing.T) {
	b := newBackoff(200*time.Millisecond, 10*time.Second)
	for range 10 {
		b.next()
	}
	if w := b.next(); w < 5*time.Second {
		t.Fatalf("after 10 failures the wait is %s, want at least half the limit", w)
	}
	b.reset()
	if w := b.next(); w > 200*time.Millisecond {
		t.Fatalf("after a reset the wait is %s, want at most the shortest (200ms)", w)
	}
}
