package eventtime_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// TestOracleAgreesWithEventtime feeds random logs, around the epoch so
// that negative times are covered, through both the oracle and one
// eventtime.Partition per partition: counts and late events must agree.
func TestOracleAgreesWithEventtime(t *testing.T) {
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
		var events []contracttest.Event
		late := 0
		for range 200 + rng.IntN(300) {
			p := rng.IntN(nparts)
			clock[p] += int64(rng.IntN(1500))
			tm := clock[p]
			if rng.IntN(10) == 0 {
				tm -= int64(rng.IntN(60_000)) // often late
			}
			e := contracttest.Event{Partition: p, Time: tm, Type: types[rng.IntN(len(types))]}
			events = append(events, e)
			if parts[p].Add(e.Time, e.Type).Late() {
				late++
			}
		}
		got := map[contracttest.Key]int64{}
		for _, p := range parts {
			p.Windows(func(start int64, c eventtime.Counts) {
				for _, typ := range types {
					if n := c[typ.Index()]; n > 0 {
						got[contracttest.Key{Start: start, Type: typ}] += n
					}
				}
			})
		}
		want, wantLate := contracttest.Expected(events, window, ooo)
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

// TestOracleFutureRuleAgreesWithCheckFuture: the oracle's max_future rule
// (through ExpectedLog) rejects exactly the records CheckFuture rejects,
// with and without a record timestamp, at and around the bound.
func TestOracleFutureRuleAgreesWithCheckFuture(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const readTime = 1_800_000_000_000
	for round := range 2000 {
		maxFuture := time.Duration(rng.IntN(3)) * time.Hour
		recordTime := int64(1_700_000_000_000) + rng.Int64N(200_000_000_000)
		if rng.IntN(5) == 0 {
			recordTime = -1 // none
		}
		ref := recordTime
		if ref <= 0 {
			ref = readTime
		}
		et := ref + maxFuture.Milliseconds() + rng.Int64N(5) - 2
		if rng.IntN(4) == 0 {
			et = ref - rng.Int64N(1_000_000)
		}
		value := serde.AppendVehicle(nil, model.Vehicle{PlateNumber: "CA1234AB", Timestamp: model.TimeFromMillis(et), VehicleType: model.Car})
		got := contracttest.ExpectedLog([]contracttest.Input{{Value: value, RecordTime: recordTime}}, contracttest.Settings{Window: 20 * time.Second, MaxFuture: maxFuture}, readTime)
		want := eventtime.CheckFuture(et, recordTime, readTime, maxFuture) != nil
		if (got.Bad == 1) != want {
			t.Fatalf("round %d: event %d, record time %d, max_future %s: oracle bad=%v, CheckFuture %v", round, et, recordTime, maxFuture, got.Bad == 1, want)
		}
	}
}
