package topics

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// TestIntegrationSideWriterFollowsTheLimit, against the real broker: the
// limit is read at Load; lowered afterwards (to 64 KiB), the broker refuses
// the next write for its size, the writer reads the new limit and writes
// everything in requests below it, a record too large for it cut to fit.
func TestIntegrationSideWriterFollowsTheLimit(t *testing.T) {
	env := testenv.Get(t)
	topic := env.Topic(t, "side", 1)
	cfg := DefaultConfig()
	cfg.Brokers = env.Brokers
	tp := New(cfg, nil, nil)
	cut := 0
	w := tp.SideWriter(func(got string, n int) {
		if got == topic {
			cut += n
		}
	})
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.Load(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if limit, read := w.Limit(topic); !read || limit != DefaultMaxMessageBytes {
		t.Fatalf("limit %d (read %v), want the broker default %d", limit, read, DefaultMaxMessageBytes)
	}

	client := &kafka.Client{Addr: kafka.TCP(env.Brokers...), Timeout: 10 * time.Second}
	resp, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "max.message.bytes", Value: strconv.Itoa(64 << 10)}}}},
	})
	if err == nil {
		err = resp.Resources[0].Error
	}
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	for i := range 500 {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: fmt.Appendf(nil, "k%03d", i), Value: bytes.Repeat([]byte("v"), 1000)})
	}
	big := bytes.Repeat([]byte("B"), 200_000)
	msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte("big"), Value: big})
	// Wait until the broker answers with the new limit (w keeps the old one
	// until a write is refused).
	probe := tp.SideWriter(nil)
	defer probe.Close()
	for {
		_ = probe.Load(ctx, topic)
		if limit, _ := probe.Limit(topic); limit == 64<<10 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the new max.message.bytes never showed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if limit, _ := w.Limit(topic); limit != DefaultMaxMessageBytes {
		t.Fatalf("the writer's limit changed to %d before any write", limit)
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	if limit, _ := w.Limit(topic); limit != 64<<10 {
		t.Errorf("limit %d after the refusal, want %d", limit, 64<<10)
	}
	if cut != 1 {
		t.Errorf("%d records reported cut, want 1", cut)
	}

	conn, err := kafka.DialLeader(ctx, "tcp", env.Brokers[0], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := map[string]kafka.Message{}
	for len(got) < len(msgs) {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := conn.ReadBatch(1, 1<<20)
		n := 0
		for {
			m, err := b.ReadMessage()
			if err != nil {
				break
			}
			got[string(m.Key)] = m
			n++
		}
		b.Close()
		if n == 0 {
			break
		}
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d distinct records on the topic, want %d", len(got), len(msgs))
	}
	m := got["big"]
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	if h[HeaderTruncated] != "true" || h[HeaderOriginalSize] != "200000" || !bytes.HasPrefix(big, m.Value) || len(m.Value) > 64<<10 || len(m.Value) < 32<<10 {
		t.Errorf("the big record: %d bytes, headers %v", len(m.Value), h)
	}
}
