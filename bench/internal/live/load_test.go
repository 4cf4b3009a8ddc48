package live

import (
	"context"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// TestIntegrationLoadCountsWhatTheLogHolds runs the loader against the
// Kafka of VS_KAFKA_BROKERS and reads its topic back: every record is a
// valid vehicle, and the loader's counts are the oracle's for the log as
// written. Over 3 partitions it writes through kafka-go's Writer, over 300
// in a produce request per tick (requestsAbove).
func TestIntegrationLoadCountsWhatTheLogHolds(t *testing.T) {
	for _, partitions := range []int{3, 300} {
		t.Run(strconv.Itoa(partitions), func(t *testing.T) { testLoadCounts(t, partitions) })
	}
}

func testLoadCounts(t *testing.T, partitions int) {
	if testing.Short() {
		t.Skip("integration test: runs the loader for 3 s against Kafka")
	}
	env := os.Getenv("VS_KAFKA_BROKERS")
	if env == "" {
		t.Skip("no Kafka: set VS_KAFKA_BROKERS (eval \"$(deploy/local/stack.sh env)\")")
	}
	brokers := strings.Split(env, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topic := scratch.UniqueName("live-load-test")
	if err := scratch.CreateTopic(ctx, brokers, topic, partitions); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = scratch.DeleteTopics(context.Background(), brokers, topic) })

	const window = 2 * time.Second // windows end during the run
	res := Load(ctx, brokers, topic, partitions, 400, 3*time.Second, window)
	if res.FirstErr != nil || res.Failed != 0 || res.Sent != 1200 {
		t.Fatalf("load: sent %d, failed %d, first error %v", res.Sent, res.Failed, res.FirstErr)
	}
	var log []contracttest.Input
	err := contracttest.ReadAll(ctx, brokers, topic, func(m kafka.Message) {
		log = append(log, contracttest.Input{Partition: m.Partition, Value: m.Value, RecordTime: m.Time.UnixMilli()})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := contracttest.ExpectedLog(log, contracttest.Settings{Window: window}, time.Now().UnixMilli())
	if want.Bad != 0 || want.Events != 1200 || want.Late != res.Late {
		t.Errorf("the log holds %d events, %d bad, %d late; the loader sent 1200, %d late", want.Events, want.Bad, want.Late, res.Late)
	}
	got := map[contracttest.Key]int64{}
	for k, n := range res.Counts {
		typ, err := model.ParseVehicleType(k.Type)
		if err != nil {
			t.Fatalf("loader counts %s:%d: %v", k.Type, k.Start, err)
		}
		got[contracttest.Key{Start: k.Start, Type: typ}] = n
	}
	if !maps.Equal(got, want.Counts) {
		t.Errorf("loader counts %v, the log's %v", got, want.Counts)
	}
}

// TestSummary: the load's line names late events only when the oracle
// found some.
func TestSummary(t *testing.T) {
	start := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	r := LoadResult{Start: start, Stop: start.Add(10 * time.Second), Sent: 20000, Failed: 2, MaxBehind: 18 * time.Millisecond}
	if got, want := r.Summary(), "20000 events in 10s (2000 events/s held; at most 18ms behind schedule), 2 failed"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	r.Late = 3
	if got := r.Summary(); !strings.HasSuffix(got, ", 3 late by the contract (the wall clock stepped back): the counts leave them out") {
		t.Errorf("summary with late events %q", got)
	}
}

// BenchmarkLoad is the loader's ceiling against the Kafka of
// VS_KAFKA_BROKERS: b.N events over 6 partitions, asked at 2,000,000
// events/s, so that the loader and the broker, not its pacing, set the rate.
// Run it with -benchtime 3000000x for a figure that is not start-up.
func BenchmarkLoad(b *testing.B) {
	env := os.Getenv("VS_KAFKA_BROKERS")
	if env == "" {
		b.Skip("no Kafka: set VS_KAFKA_BROKERS (eval \"$(deploy/local/stack.sh env)\")")
	}
	brokers := strings.Split(env, ",")
	ctx := context.Background()
	topic := scratch.UniqueName("live-load-bench")
	if err := scratch.CreateTopic(ctx, brokers, topic, 6); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = scratch.DeleteTopics(context.Background(), brokers, topic) })
	const rate = 2_000_000
	b.ResetTimer()
	res := Load(ctx, brokers, topic, 6, rate, time.Duration(float64(b.N)/rate*float64(time.Second))+time.Nanosecond, 20*time.Second)
	b.StopTimer()
	if res.Failed != 0 || res.FirstErr != nil {
		b.Fatalf("load: %d failed, first error %v", res.Failed, res.FirstErr)
	}
	// Acknowledged events over the whole time, the writers' flush included;
	// the rate held (handed to the writers) is higher by what was still
	// queued in them at the loader's stop.
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(res.Held(), "held-events/s")
}
