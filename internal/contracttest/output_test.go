package contracttest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

const window = 20 * time.Second

func stat(typ model.VehicleType, start, count int64) contracttest.OutputRecord {
	v := serde.AppendStatistics(nil, model.VehicleStatistics{
		Start: model.TimeFromMillis(start), End: model.TimeFromMillis(start + window.Milliseconds()), VehicleType: typ, Count: count})
	return contracttest.OutputRecord{Key: []byte(contracttest.Key{Start: start, Type: typ}.OutputKey()), Value: v}
}

func numbered(rs ...contracttest.OutputRecord) []contracttest.OutputRecord {
	for i := range rs {
		rs[i].Offset = int64(i)
	}
	return rs
}

func TestCompareOutputExact(t *testing.T) {
	want := map[contracttest.Key]int64{{Start: 0, Type: model.Car}: 40, {Start: 0, Type: model.Truck}: 5, {Start: 20_000, Type: model.Car}: 1}
	rep := contracttest.CompareOutput(want, numbered(stat(model.Car, 0, 40), stat(model.Truck, 0, 5), stat(model.Car, 0, 40), stat(model.Car, 20_000, 1)), window)
	if !rep.OK() || rep.Correct != 3 || rep.Duplicates != 1 || rep.Records != 4 {
		t.Errorf("report %+v, want OK with 3 correct and 1 repeat", rep)
	}
}

func TestCompareOutputFindsEachKindOfMismatch(t *testing.T) {
	want := map[contracttest.Key]int64{
		{Start: 0, Type: model.Car}:      40, // right
		{Start: 0, Type: model.Truck}:    5,  // missing
		{Start: 20_000, Type: model.Car}: 7,  // wrong
		{Start: 40_000, Type: model.Car}: 9,  // two values
		{Start: 60_000, Type: model.Van}: 1,  // value does not match its key
		{Start: 80_000, Type: model.Bus}: 2,  // not a VehicleStatistics
	}
	bad := stat(model.Van, 60_000, 1)
	bad.Value = serde.AppendStatistics(nil, model.VehicleStatistics{Start: model.TimeFromMillis(0), End: model.TimeFromMillis(20_000), VehicleType: model.Van, Count: 1})
	garbage := stat(model.Bus, 80_000, 2)
	garbage.Value = []byte(`{"count":2}`)
	rep := contracttest.CompareOutput(want, numbered(
		stat(model.Car, 0, 40), stat(model.Car, 20_000, 8), stat(model.Car, 40_000, 9), stat(model.Car, 40_000, 10),
		stat(model.Motorcycle, 0, 1), bad, garbage), window)
	if rep.OK() {
		t.Fatal("report OK")
	}
	for _, c := range []struct {
		kind string
		ms   []contracttest.Mismatch
		key  string
	}{
		{"missing", rep.Missing, "TRUCK:0"}, {"wrong", rep.Wrong, "CAR:20000"}, {"conflicting", rep.Conflicting, "CAR:40000"},
		{"extra", rep.Extra, "MOTORCYCLE:0"},
	} {
		if len(c.ms) != 1 || c.ms[0].Key != c.key {
			t.Errorf("%s: %+v, want %s", c.kind, c.ms, c.key)
		}
	}
	if len(rep.Undecodable) != 2 {
		t.Errorf("undecodable: %+v, want VAN:60000 and BUS:80000", rep.Undecodable)
	}
	if rep.Correct != 1 {
		t.Errorf("correct %d, want 1", rep.Correct)
	}
	if c := rep.Conflicting[0]; len(c.Got) != 2 || c.Offsets[0] != 2 || c.Offsets[1] != 3 {
		t.Errorf("conflict %+v: want both values with offsets 2 and 3", c)
	}
	text := strings.Join(rep.Describe(10), "\n")
	for _, s := range []string{"missing TRUCK:0: want count 5", "conflicting CAR:40000", "then", "(window 00:00:40)"} {
		if !strings.Contains(text, s) {
			t.Errorf("description lacks %q:\n%s", s, text)
		}
	}
}

func TestCompareOutputEmpty(t *testing.T) {
	want := map[contracttest.Key]int64{{Start: 0, Type: model.Car}: 1}
	if rep := contracttest.CompareOutput(want, nil, window); rep.OK() || len(rep.Missing) != 1 {
		t.Errorf("report %+v, want one missing key", rep)
	}
	if rep := contracttest.CompareOutput(map[contracttest.Key]int64{}, nil, window); !rep.OK() {
		t.Errorf("nothing expected and nothing written: %+v", rep)
	}
}

// TestCompareOutputIsByteExact: a value with the right count that is not
// the contract's encoding byte for byte (here: spaces) is wrong.
func TestCompareOutputIsByteExact(t *testing.T) {
	want := map[contracttest.Key]int64{{Start: 0, Type: model.Car}: 3}
	r := stat(model.Car, 0, 3)
	r.Value = append([]byte(" "), r.Value...)
	if rep := contracttest.CompareOutput(want, numbered(r), window); rep.OK() || len(rep.Wrong) != 1 {
		t.Errorf("report %+v, want the spaced value wrong", rep)
	}
}

// TestCompareOutputChecksRecordTime: a record stamped other than its
// window's end - 1 ms is mistimed; one stamped right is correct.
func TestCompareOutputChecksRecordTime(t *testing.T) {
	want := map[contracttest.Key]int64{{Start: 0, Type: model.Car}: 3, {Start: 20_000, Type: model.Car}: 1}
	right, wrong := stat(model.Car, 0, 3), stat(model.Car, 20_000, 1)
	right.Time, wrong.Time = 19_999, 40_000
	rep := contracttest.CompareOutput(want, numbered(right, wrong), window)
	if rep.OK() || len(rep.Mistimed) != 1 || rep.Mistimed[0].Key != "CAR:20000" {
		t.Errorf("report %+v, want CAR:20000 mistimed", rep)
	}
}
