package testenv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// TestIntegrationStackIsReal proves the services are the real thing: 10,000
// records through a 3-partition topic and back through a consumer group, and
// a MULTI/EXEC transaction on Redis.
func TestIntegrationStackIsReal(t *testing.T) {
	env := testenv.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const n = 10_000
	topic := env.Topic(t, "stack", 3)
	w := &kafka.Writer{
		Addr:         kafka.TCP(env.Brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchTimeout: 5 * time.Millisecond,
	}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write %d records: %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     env.Brokers,
		GroupID:     testenv.UniqueName("stack-group"),
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		MaxWait:     100 * time.Millisecond,
	})
	defer r.Close()
	seen := make(map[string]bool, n)
	partitions := map[int]int{}
	for len(seen) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("after %d of %d records: fetch: %v", len(seen), n, err)
		}
		if want := "v" + string(m.Key[1:]); string(m.Value) != want {
			t.Fatalf("record %s has value %q, want %q", m.Key, m.Value, want)
		}
		seen[string(m.Key)] = true
		partitions[m.Partition]++
		if len(seen)%1000 == 0 {
			if err := r.CommitMessages(ctx, m); err != nil {
				t.Fatalf("commit: %v", err)
			}
		}
	}
	if len(partitions) != 3 {
		t.Errorf("records landed on %d partitions, want 3: %v", len(partitions), partitions)
	}

	rdb, prefix := env.Redis(t)
	key := prefix + ":counter"
	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.IncrBy(ctx, key, 40)
		p.IncrBy(ctx, key, 2)
		p.Get(ctx, key)
		return nil
	})
	if err != nil {
		t.Fatalf("MULTI/EXEC: %v", err)
	}
	if got := cmds[2].(*redis.StringCmd).Val(); got != "42" {
		t.Errorf("after MULTI/EXEC the counter is %q, want 42", got)
	}
}
