package sink

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/metrics"
)

// BenchmarkComplete is the per-record work of an acknowledged produce
// request of 2000 records: type counts, latency, chunk recycling, window.
// It reports per record too. One allocation per request (the window's
// wake-up channel), none per record.
func BenchmarkComplete(b *testing.B) {
	m, _ := metrics.New(prometheus.NewRegistry())
	s, err := New(DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), m, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	const n = 2000
	c := &chunk{pending: make([]pending, n)}
	msgs := make([]kafka.Message, n)
	types := model.VehicleTypes()
	for i := range msgs {
		c.pending[i] = pending{typ: types[i%len(types)], chunk: c}
		msgs[i] = kafka.Message{Key: []byte("CA1234AB"), Value: make([]byte, 150), WriterData: &c.pending[i]}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.left.Store(n)
		_ = s.win.acquire(ctx, n)
		s.complete(msgs, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
