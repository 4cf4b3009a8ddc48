package eventtimetest_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime/eventtimetest"
)

// TestExpectedAgreesWithEventtime feeds random logs, around the epoch so
// that negative times are covered, through both the oracle and one
// eventtime.Partition per partition: counts and late events must agree.
func TestExpectedAgreesWithEventtime(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	types := model.VehicleTypes()
	for round := range 300 {
		window := time.Duration(1+rng.IntN(30)) * time.Second
		ooo := time.Duration(rng.IntN(5000)) * time.Millisecond
		cfg := eventtime.Config{Window: eventtime.WindowConfig{Size: window}, Watermark: eventtime.WatermarkConfig{MaxOutOfOrderness: ooo, IdleTimeout: time.Second}}
		nparts := 1 + rng.IntN(4)
		parts := make([]*eventtime.Partition, nparts)
		clock := make([]int64, nparts)
		for i := range parts {
			parts[i] = eventtime.NewPartition(cfg)
			clock[i] = int64(rng.IntN(200_000)) - 100_000
		}
		var events []eventtimetest.Event
		late := 0
		for range 200 + rng.IntN(300) {
			p := rng.IntN(nparts)
			clock[p] += int64(rng.IntN(1500))
			tm := clock[p]
			if rng.IntN(10) == 0 {
				tm -= int64(rng.IntN(60_000)) // often late
			}
			e := eventtimetest.Event{Partition: p, Time: tm, Type: types[rng.IntN(len(types))]}
			events = append(events, e)
			if parts[p].Add(e.Time, e.Type).Late() {
				late++
			}
		}
		got := map[eventtimetest.Key]int64{}
		for _, p := range parts {
			p.Windows(func(start int64, c eventtime.Counts) {
				for _, typ := range types {
					if n := c[typ.Index()]; n > 0 {
						got[eventtimetest.Key{Start: start, Type: typ}] += n
					}
				}
			})
		}
		want, wantLate := eventtimetest.Expected(events, window, ooo)
		if wantLate != late || len(want) != len(got) {
			t.Fatalf("round %d: oracle %d keys %d late, eventtime %d keys %d late", round, len(want), wantLate, len(got), late)
		}
		for k, n := range want {
			if got[k] != n {
				t.Fatalf("round %d: %+v: oracle %d, eventtime %d", round, k, n, got[k])
			}
		}
	}
}

func TestExpectedNegativeTimes(t *testing.T) {
	// -1 ms is in [-20000, 0), not in [0, 20000): the floor, not the
	// truncating remainder.
	counts, late := eventtimetest.Expected([]eventtimetest.Event{{Time: -1, Type: model.Car}, {Time: -20_001, Type: model.Car}}, 20*time.Second, 0)
	if counts[eventtimetest.Key{Start: -20_000, Type: model.Car}] != 1 || late != 1 || len(counts) != 1 {
		t.Errorf("counts %v, late %d", counts, late)
	}
}
