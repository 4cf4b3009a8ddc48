package metrics_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

// BenchmarkScrape240Partitions is the cost of one /metrics scrape of an
// instance that owns 240 partitions (docs/capacity.md's largest case):
// gathering and encoding everything, and the bytes the per-partition
// watermark and idle series add to it (figures, no assertion).
func BenchmarkScrape240Partitions(b *testing.B) {
	const partitions = 240
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for p := range partitions {
		m.ConsumerLag.WithLabelValues(strconv.Itoa(p)).Set(1234)
		m.OffsetBeyondEnd.WithLabelValues(strconv.Itoa(p)).Set(0)
	}
	without := scrapeBytes(b, reg)
	for p := range partitions {
		m.SetPartition(p, now-5000, p%7 == 0)
	}
	with := scrapeBytes(b, reg)
	b.ReportAllocs()
	for b.Loop() {
		scrapeBytes(b, reg)
	}
	b.ReportMetric(float64(with), "scrape-bytes")
	b.ReportMetric(float64(with-without), "watermark+idle-bytes")
	b.ReportMetric(float64(with-without)/partitions, "bytes/partition")
}

func scrapeBytes(b *testing.B, reg *prometheus.Registry) int {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			b.Fatal(err)
		}
	}
	return buf.Len()
}
