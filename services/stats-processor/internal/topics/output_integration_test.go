package topics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// TestIntegrationReadOutputWithinDeadline is issue #21's case 9: the
// output topic is deleted and created again between a round's read of
// its end offsets and its read of the records, so [0, 5) is no longer
// there. ReadOutput must return within its caller's deadline (a round's,
// inside the lease), not after a whole read of its own.
func TestIntegrationReadOutputWithinDeadline(t *testing.T) {
	env := testenv.Get(t)
	topic := env.Topic(t, "out", 1)
	cfg := DefaultConfig()
	cfg.Brokers, cfg.OutputTopic = env.Brokers, topic
	tp := New(cfg, nil, nil)
	ctx := context.Background()
	w := &kafka.Writer{Addr: kafka.TCP(env.Brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	for i := range 5 {
		if err := w.WriteMessages(ctx, kafka.Message{Key: fmt.Appendf(nil, "CAR:%d", i*20_000), Value: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	first, end, err := tp.OutputOffsets(ctx)
	if err != nil || end[0] != 5 {
		t.Fatalf("output offsets %v %v %v", first, end, err)
	}
	env.RecreateTopic(t, topic, 1)
	const deadline, slack = 3 * time.Second, time.Second
	rctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	got, err := tp.ReadOutput(rctx, 0, first[0], end[0])
	took := time.Since(start)
	t.Logf("ReadOutput returned after %s: %d records, %v", took.Round(time.Millisecond), len(got), err)
	if took > deadline+slack {
		t.Fatalf("ReadOutput([%d, %d)) of the recreated output topic returned after %s, past its caller's %s deadline: %d records, %v",
			first[0], end[0], took.Round(100*time.Millisecond), deadline, len(got), err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadOutput of records that are gone: %d records, %v; want the caller's deadline", len(got), err)
	}
}
