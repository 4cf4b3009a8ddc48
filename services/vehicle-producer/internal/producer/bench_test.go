package producer_test

import (
	"testing"

	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/generator"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/producer"
)

// BenchmarkAppendRecord is the per-event encode path: key and contract JSON
// into the chunk's buffer. It must not allocate.
func BenchmarkAppendRecord(b *testing.B) {
	g, _ := generator.New(generator.DefaultConfig(), 1)
	var e generator.Event
	g.Next(t0, &e)
	buf := make([]byte, 0, producer.MaxRecordSize)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = producer.AppendRecord(buf[:0], &e)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkGenerateAndEncode is the loop's whole per-event work: the next
// event and its encoding into the chunk's buffer, which the loop reuses once
// Kafka acknowledged a chunk.
func BenchmarkGenerateAndEncode(b *testing.B) {
	g, _ := generator.New(generator.DefaultConfig(), 1)
	var e generator.Event
	const chunk = 1024
	buf := make([]byte, 0, chunk*producer.MaxRecordSize)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%chunk == 0 {
			buf = buf[:0]
		}
		g.Next(t0, &e)
		buf, _ = producer.AppendRecord(buf, &e)
		i++
	}
}

func TestMaxRecordSize(t *testing.T) {
	g, _ := generator.New(generator.Config{Weights: generator.Weights{Motorcycle: 1}, LateDelay: 1}, 1)
	var e generator.Event
	longest := 0
	for range 10_000 {
		g.Next(t0, &e)
		b, _ := producer.AppendRecord(nil, &e)
		longest = max(longest, len(b))
	}
	if longest > producer.MaxRecordSize {
		t.Fatalf("a record of %d bytes, MaxRecordSize is %d", longest, producer.MaxRecordSize)
	}
	t.Logf("longest record %d bytes (MaxRecordSize %d)", longest, producer.MaxRecordSize)
}
