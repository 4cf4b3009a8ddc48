package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/sink"
)

// TestIntegrationSinkDeliversKeyedRecords creates a topic, sends records in
// chunks, and reads every one back: all acknowledged, none twice, each key
// always on the same partition.
func TestIntegrationSinkDeliversKeyedRecords(t *testing.T) {
	env := testenv.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := sink.DefaultConfig()
	cfg.Brokers = env.Brokers
	cfg.Topic = testenv.UniqueName("sink")
	cfg.Partitions = 3
	cfg.Compression = "lz4"
	t.Cleanup(func() {
		c := &kafka.Client{Addr: kafka.TCP(env.Brokers...)}
		_, _ = c.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{cfg.Topic}})
	})
	s := newSink(t, cfg, sink.Options{OnFatal: func(err error) { t.Errorf("fatal: %v", err) }})
	n, err := s.EnsureTopic(ctx)
	if err != nil || n != 3 {
		t.Fatalf("EnsureTopic = %d, %v", n, err)
	}
	// An existing topic is fine.
	if n, err := s.EnsureTopic(ctx); err != nil || n != 3 {
		t.Fatalf("EnsureTopic on an existing topic = %d, %v", n, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}

	const total, chunk, plates = 5000, 250, 40
	done := make(chan struct{}, total/chunk)
	types := model.VehicleTypes()
	for i := 0; i < total; i += chunk {
		recs := make([]sink.Record, chunk)
		for j := range recs {
			k := i + j
			recs[j] = sink.Record{
				Key:   fmt.Appendf(nil, "CA%04dAB", k%plates),
				Value: fmt.Appendf(nil, `{"n":%d}`, k),
				Type:  types[k%len(types)],
			}
		}
		if err := s.Acquire(ctx, chunk); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(ctx, recs, func() { done <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if len(done) != total/chunk {
		t.Errorf("done called %d times, want %d", len(done), total/chunk)
	}
	st := s.Stats()
	if st.Sent != total || st.InFlight != 0 || st.SentByType[model.Car.Index()] != total/5 {
		t.Errorf("stats %+v", st)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}

	seen := make(map[string]bool, total)
	partitionOf := map[string]int{}
	for p := range 3 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: env.Brokers, Topic: cfg.Topic, Partition: p, MaxWait: 100 * time.Millisecond})
		end, err := lastOffset(ctx, env.Brokers[0], cfg.Topic, p)
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < end; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d offset %d: %v", p, off, err)
			}
			if seen[string(m.Value)] {
				t.Fatalf("%s twice", m.Value)
			}
			seen[string(m.Value)] = true
			if q, ok := partitionOf[string(m.Key)]; ok && q != p {
				t.Fatalf("key %s on partitions %d and %d", m.Key, q, p)
			}
			partitionOf[string(m.Key)] = p
		}
		r.Close()
	}
	if len(seen) != total {
		t.Errorf("%d distinct records in the topic, want %d", len(seen), total)
	}
}

func lastOffset(ctx context.Context, broker, topic string, partition int) (int64, error) {
	conn, err := kafka.DialLeader(ctx, "tcp", broker, topic, partition)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ReadLastOffset()
}
