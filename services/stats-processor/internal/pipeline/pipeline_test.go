package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

func TestStatisticsRecords(t *testing.T) {
	var c eventtime.Counts
	c[model.Car.Index()] = 42
	c[model.Truck.Index()] = 5
	msgs := StatisticsRecords([]state.ClosedWindow{{Start: 1_763_768_700_000, Counts: c}}, 20_000)
	if len(msgs) != 2 {
		t.Fatalf("%d records, want 2 (zero counts are not written)", len(msgs))
	}
	if got := string(msgs[0].Key); got != "CAR:1763768700000" {
		t.Errorf("key %s", got)
	}
	want := `{"start":"2025-11-21T23:45:00.000Z","end":"2025-11-21T23:45:20.000Z","vehicleType":"CAR","count":42}`
	if got := string(msgs[0].Value); got != want {
		t.Errorf("value\n got %s\nwant %s", got, want)
	}
	if msgs[0].Time.UnixMilli() != 1_763_768_719_999 {
		t.Errorf("record time %v, want end - 1 ms", msgs[0].Time)
	}
	if !strings.HasPrefix(string(msgs[1].Key), "TRUCK:") {
		t.Errorf("second key %s", msgs[1].Key)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultTopicsConfig().Validate(); err != nil {
		t.Fatalf("topic defaults: %v", err)
	}
	if err := DefaultConsumerConfig().Validate(); err != nil {
		t.Fatalf("consumer defaults: %v", err)
	}
	tc := DefaultTopicsConfig()
	tc.Brokers = nil
	tc.OutputTopic = tc.InputTopic
	cc := DefaultConsumerConfig()
	cc.StartOffset = "middle"
	cc.SessionTimeout = time.Second
	// Keys are relative to the component: the service puts them under kafka.
	for _, c := range []struct {
		err  error
		keys []string
	}{
		{tc.Validate(), []string{"brokers", "input_topic"}},
		{cc.Validate(), []string{"start_offset", "session_timeout"}},
	} {
		for _, key := range c.keys {
			if c.err == nil || !strings.Contains("\n"+c.err.Error(), "\n"+key+":") {
				t.Errorf("error lacks %s: %v", key, c.err)
			}
		}
	}
}

func testConfig() Config {
	return Config{Topics: DefaultTopicsConfig(), Consumer: DefaultConsumerConfig(), EventTime: eventtime.DefaultConfig(),
		CheckpointInterval: time.Second, CloseInterval: 250 * time.Millisecond, Retention: 24 * time.Hour}
}

func newTestWorker(late string) *worker {
	cfg := testConfig()
	cfg.Topics.LateTopic = late
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	p := &Processor{cfg: cfg, metrics: m}
	return &worker{p: p, et: eventtime.NewPartition(cfg.EventTime)}
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
	if len(w.pending) != 2 || w.pending[0].Topic != "late" || w.pending[1].Topic != DefaultTopicsConfig().DeadLetterTopic {
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
			w.et = eventtime.NewPartition(w.p.cfg.EventTime)
		}
	}
}
