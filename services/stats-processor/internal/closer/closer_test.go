package closer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

func TestStatisticsRecords(t *testing.T) {
	var c eventtime.Counts
	c[model.Car.Index()] = 42
	c[model.Truck.Index()] = 5
	msgs := StatisticsRecords([]state.ClosedWindow{{Start: 1_763_768_700_000, Counts: c}}, 20_000)
	if len(msgs) != 2 {
		t.Fatalf("%d records, want 2 (zero counts are not written)", len(msgs))
	}
	if got := string(msgs[0].Key); got != "CAR:1763768700000" {
		t.Errorf("key %s", got)
	}
	want := `{"start":"2025-11-21T23:45:00.000Z","end":"2025-11-21T23:45:20.000Z","vehicleType":"CAR","count":42}`
	if got := string(msgs[0].Value); got != want {
		t.Errorf("value\n got %s\nwant %s", got, want)
	}
	if msgs[0].Time.UnixMilli() != 1_763_768_719_999 {
		t.Errorf("record time %v, want end - 1 ms", msgs[0].Time)
	}
	if !strings.HasPrefix(string(msgs[1].Key), "TRUCK:") {
		t.Errorf("second key %s", msgs[1].Key)
	}
}

func TestOutputRecordsRoundTrip(t *testing.T) {
	var c eventtime.Counts
	c[model.Car.Index()], c[model.Bus.Index()] = 7, 2
	w := state.ClosedWindow{Start: 40_000, Counts: c, Partitions: [model.NumVehicleTypes]int{3, 3, 2, 3, 3}}
	got, problems := OutputRecords(StatisticsRecords([]state.ClosedWindow{w}, 20_000), 20_000)
	want := []state.OutputRecord{
		{Start: 40_000, Type: model.Car.Index(), Count: 7, Partitions: 3},
		{Start: 40_000, Type: model.Bus.Index(), Count: 2, Partitions: 2},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(problems) != 0 {
		t.Fatalf("read back %v (problems %v), want %v", got, problems, want)
	}
}

func TestOutputRecords(t *testing.T) {
	rec := func(key, value string, headers ...kafka.Header) kafka.Message {
		return kafka.Message{Key: []byte(key), Value: []byte(value), Headers: headers}
	}
	car := `{"start":"1970-01-01T00:00:20.000Z","end":"1970-01-01T00:00:40.000Z","vehicleType":"CAR","count":4}`
	car5 := `{"start":"1970-01-01T00:00:20.000Z","end":"1970-01-01T00:00:40.000Z","vehicleType":"CAR","count":5}`
	truck := `{"start":"1970-01-01T00:00:20.000Z","end":"1970-01-01T00:00:40.000Z","vehicleType":"TRUCK","count":1}`
	long := `{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:01:00.000Z","vehicleType":"CAR","count":9}`
	parts := func(v string) kafka.Header { return kafka.Header{Key: PartitionsHeader, Value: []byte(v)} }
	for _, tc := range []struct {
		name     string
		msgs     []kafka.Message
		want     string
		problems string // per problem: e (not a record), c (conflict), s (other size)
	}{
		{"empty", nil, "[]", ""},
		{"one with its header", []kafka.Message{rec("CAR:20000", car, parts("3"))}, "[{20000 0 4 3}]", ""},
		{"no header: partitions unknown", []kafka.Message{rec("CAR:20000", car)}, "[{20000 0 4 0}]", ""},
		{"a header that is no count", []kafka.Message{rec("CAR:20000", car, parts("x")), rec("TRUCK:20000", truck, parts("-1"))}, "[{20000 0 4 0} {20000 1 1 0}]", ""},
		{"a crash's byte-identical repeat", []kafka.Message{rec("CAR:20000", car), rec("CAR:20000", car)}, "[{20000 0 4 0}]", ""},
		{"a conflict: the first value stays", []kafka.Message{rec("CAR:20000", car), rec("CAR:20000", car5)}, "[{20000 0 4 0}]", "c"},
		{"not a VehicleStatistics", []kafka.Message{rec("x", "not json"), rec("TRUCK:20000", truck)}, "[{20000 1 1 0}]", "e"},
		{"another window size", []kafka.Message{rec("CAR:0", long)}, "[]", "s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := OutputRecords(tc.msgs, 20_000)
			var kinds strings.Builder
			for _, p := range problems {
				switch {
				case p.Err != nil:
					kinds.WriteByte('e')
				case p.Earlier != nil:
					kinds.WriteByte('c')
				default:
					kinds.WriteByte('s')
				}
			}
			if g := fmt.Sprint(got); g != tc.want && !(tc.want == "[]" && len(got) == 0) {
				t.Errorf("records %s, want %s", g, tc.want)
			}
			if kinds.String() != tc.problems {
				t.Errorf("problems %q (%v), want %q", kinds.String(), problems, tc.problems)
			}
		})
	}
}
