package private_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
)

// TestIntegrationPrivateKafkaRestart checks the private broker used by chaos
// tests: data written before a stop is there after the restart.
func TestIntegrationPrivateKafkaRestart(t *testing.T) {
	testenv.Get(t)
	k := private.StartKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := scratch.CreateTopic(ctx, []string{k.Addr}, "restart", 1); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(k.Addr), Topic: "restart", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	k.Stop(t)
	k.Start(t)
	conn, err := kafka.DialLeader(ctx, "tcp", k.Addr, "restart", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m, err := conn.ReadMessage(1 << 20)
	if err != nil || string(m.Value) != "before" {
		t.Fatalf("after restart read %q, %v", m.Value, err)
	}
}
