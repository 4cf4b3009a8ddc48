package closer

import (
	"strings"
	"testing"

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
