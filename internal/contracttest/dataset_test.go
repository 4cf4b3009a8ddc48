package contracttest_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// TestAppendVehicle: drawn plates, stickers and types with event times
// around the epoch and near the contract's limits decode, in every form, to
// what was asked; the RFC3339UTC form is byte for byte what the producer
// writes.
func TestAppendVehicle(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	last := model.MaxEventTime - 2*3600_000 // RFC3339Offset's +02:00 reaches the year 10000 after it
	times := []int64{0, -1, -1001, 999, 1_795_304_705_123, model.MinEventTime, last}
	forms := []contracttest.TimeForm{contracttest.RFC3339Offset, contracttest.DecimalSeconds, contracttest.EpochMillis, contracttest.RFC3339UTC}
	for i := range 200 {
		plate, sticker, typ := contracttest.Plate(rng), contracttest.StickerID(rng), contracttest.MixedType(rng)
		if i%2 == 0 {
			sticker = ""
		}
		et := times[i%len(times)]
		if i >= len(times) {
			et = rng.Int64N(last-model.MinEventTime+1) + model.MinEventTime
		}
		for _, f := range forms {
			if f == contracttest.EpochMillis && et < 1e11 || f == contracttest.DecimalSeconds && et >= 1e14 {
				continue // read as seconds, as milliseconds
			}
			v := contracttest.AppendVehicle([]byte("x"), plate, sticker, et, typ, f)[1:]
			ev, err := serde.DecodeVehicleEvent(v)
			var strs struct{ PlateNumber, VignetteStickerID string }
			jerr := json.Unmarshal(v, &strs)
			if err != nil || jerr != nil || ev.EventTime != et || ev.Type != typ || strs.PlateNumber != plate || strs.VignetteStickerID != sticker {
				t.Fatalf("form %d: %s decodes to %+v, %+v, %v, %v; want plate %s, sticker %q, time %d, type %s", f, v, ev, strs, err, jerr, plate, sticker, et, typ)
			}
		}
		want := serde.AppendVehicle(nil, model.Vehicle{PlateNumber: plate, VignetteStickerID: sticker, Timestamp: model.TimeFromMillis(et), VehicleType: typ})
		if got := contracttest.AppendVehicle(nil, plate, sticker, et, typ, contracttest.RFC3339UTC); !bytes.Equal(got, want) {
			t.Fatalf("RFC3339UTC form %s, the producer writes %s", got, want)
		}
	}
}

// TestTimestampBeforeEpoch: a decimal-seconds number's value is the time,
// also before 1970 (-1 ms is -0.001, not -1.999).
func TestTimestampBeforeEpoch(t *testing.T) {
	for _, et := range []int64{-1, -999, -1000, -1001, -86_400_123} {
		v := `{"plateNumber":"CA1","timestamp":` + contracttest.Timestamp(et, contracttest.DecimalSeconds) + `,"vehicleType":"CAR"}`
		if ev, err := serde.DecodeVehicleEvent([]byte(v)); err != nil || ev.EventTime != et {
			t.Errorf("%s decodes to %d, %v; want %d", v, ev.EventTime, err, et)
		}
	}
}
