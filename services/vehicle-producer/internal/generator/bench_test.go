package generator_test

import (
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/generator"
)

// BenchmarkNext is the generator's share of the per-event path; it must not
// allocate.
func BenchmarkNext(b *testing.B) {
	for _, tc := range []struct {
		name   string
		jitter time.Duration
		late   float64
	}{{"plain", 0, 0}, {"jitter+late", 5 * time.Second, 0.01}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := generator.DefaultConfig()
			cfg.Jitter, cfg.LateFraction = tc.jitter, tc.late
			g := mustNew(b, cfg, 1)
			var e generator.Event
			b.ReportAllocs()
			for b.Loop() {
				g.Next(now, &e)
			}
		})
	}
}
