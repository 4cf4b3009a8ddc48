package topics

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// BenchmarkCompressBatch is why Writer does not compress: kafka-go
// compresses each batch through its codec, and the lz4 codec's writer takes
// a 4 MiB block buffer from a pool that every GC empties. A batch here is
// what the processor writes (five window records, or a few late events),
// with a GC between batches as a live processor has (one every second or
// two at 5,000 events/s): B/op is what each batch costs the heap.
//
//	go test -run '^$' -bench CompressBatch -benchmem ./services/stats-processor/internal/topics
func BenchmarkCompressBatch(b *testing.B) {
	var batch []byte
	for i, typ := range model.VehicleTypes() {
		batch = serde.AppendVehicle(batch, model.Vehicle{PlateNumber: "CA1234AB", VignetteStickerID: "5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11",
			Timestamp: model.TimeFromMillis(1_700_000_000_000 + int64(i)), VehicleType: typ})
	}
	for _, c := range []kafka.Compression{kafka.Lz4, kafka.Snappy, kafka.Gzip, kafka.Zstd} {
		b.Run(c.String(), func(b *testing.B) {
			codec := c.Codec()
			var out bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				runtime.GC() // as between two writes of a live processor
				out.Reset()
				b.StartTimer()
				w := codec.NewWriter(&out)
				if _, err := w.Write(batch); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
