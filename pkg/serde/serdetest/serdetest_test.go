package serdetest_test

import (
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde/serdetest"
)

func TestDecodeVehicleRoundTrip(t *testing.T) {
	for _, v := range []model.Vehicle{
		{PlateNumber: "CA1234AB", VignetteStickerID: "5f0c", Timestamp: time.UnixMilli(1795304705123).UTC(), VehicleType: model.Car},
		{PlateNumber: "\"q\" \\ é\n🚗", Timestamp: time.UnixMilli(-1).UTC(), VehicleType: model.Motorcycle},
	} {
		out := serde.AppendVehicle(nil, v)
		back, err := serdetest.DecodeVehicle(out)
		if err != nil || back != v {
			t.Errorf("%s: %+v, %v; want %+v", out, back, err, v)
		}
	}
	if _, err := serdetest.DecodeVehicle([]byte(`{"plateNumber":"","timestamp":0,"vehicleType":"CAR"}`)); err == nil {
		t.Error("an empty plate is accepted")
	}
}
