package contracttest_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

func TestExpectedNegativeTimes(t *testing.T) {
	// -1 ms is in [-20000, 0), not in [0, 20000): the floor, not the
	// truncating remainder.
	counts, late := contracttest.Expected([]contracttest.Event{{Time: -1, Type: model.Car}, {Time: -20_001, Type: model.Car}}, 20*time.Second, 0)
	if counts[contracttest.Key{Start: -20_000, Type: model.Car}] != 1 || late != 1 || len(counts) != 1 {
		t.Errorf("counts %v, late %d", counts, late)
	}
}

// TestExpectedLogSortsOutBadAndFutureRecords: a record that does not decode
// and one too far ahead of its timestamp are bad, move no watermark and are
// not counted; a late one is counted as late.
func TestExpectedLogSortsOutBadAndFutureRecords(t *testing.T) {
	const base int64 = 1_800_000_000_000
	vehicle := func(et int64) []byte {
		return []byte(`{"plateNumber":"CA1","timestamp":` + itoa(et) + `,"vehicleType":"CAR"}`)
	}
	log := []contracttest.Input{
		{Value: vehicle(base), RecordTime: base},
		{Value: []byte(`not json`), RecordTime: base},
		// Two hours ahead: bad, and it must not make the next event late.
		{Value: vehicle(base + 2*3600_000), RecordTime: base},
		{Value: vehicle(base + 1000), RecordTime: base},
		// A minute behind the newest valid event: late.
		{Value: vehicle(base - 60_000), RecordTime: base},
		// No timestamp: measured from the read time, within the hour.
		{Value: vehicle(base + 30*60_000), RecordTime: -1},
	}
	r := contracttest.ExpectedLog(log, contracttest.Settings{Window: 20 * time.Second, MaxOutOfOrderness: time.Second, MaxFuture: time.Hour}, base)
	start := base - base%20_000
	want := map[contracttest.Key]int64{{Start: start, Type: model.Car}: 2, {Start: model.WindowStart(base+30*60_000, 20_000), Type: model.Car}: 1}
	if r.Bad != 2 || r.Late != 1 || r.Events != 4 || len(r.Counts) != len(want) {
		t.Fatalf("result %+v, want 2 bad, 1 late, 4 events, counts %v", r, want)
	}
	for k, n := range want {
		if r.Counts[k] != n {
			t.Errorf("%s: %d, want %d", k.OutputKey(), r.Counts[k], n)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
