package serde

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// benchVehicle is the contract's example record, the typical input.
var benchVehicle = []byte(`{"plateNumber":"CA1234AB","vignetteStickerId":"5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11","timestamp":"2026-11-21T23:45:05.123Z","vehicleType":"CAR"}`)

// benchVehicleJackson is the same record as Jackson writes an Instant by
// default: epoch seconds with nanoseconds.
var benchVehicleJackson = []byte(`{"plateNumber":"CA1234AB","vignetteStickerId":"5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11","timestamp":1763768705.123000000,"vehicleType":"CAR"}`)

var benchStatistics = model.VehicleStatistics{
	Start:       time.Date(2026, 11, 21, 23, 45, 0, 0, time.UTC),
	End:         time.Date(2026, 11, 21, 23, 45, 20, 0, time.UTC),
	VehicleType: model.Car,
	Count:       42,
}

// stdVehicle is how the record would be read with encoding/json.
type stdVehicle struct {
	PlateNumber       string    `json:"plateNumber"`
	VignetteStickerID string    `json:"vignetteStickerId"`
	Timestamp         time.Time `json:"timestamp"`
	VehicleType       string    `json:"vehicleType"`
}

type stdStatistics struct {
	Start       string `json:"start"`
	End         string `json:"end"`
	VehicleType string `json:"vehicleType"`
	Count       int64  `json:"count"`
}

var (
	sinkEvent VehicleEvent
	sinkVeh   model.Vehicle
	sinkBytes []byte
)

func BenchmarkDecodeVehicleEvent(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchVehicle)))
	for b.Loop() {
		ev, err := DecodeVehicleEvent(benchVehicle)
		if err != nil {
			b.Fatal(err)
		}
		sinkEvent = ev
	}
}

func BenchmarkDecodeVehicleEventJackson(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchVehicleJackson)))
	for b.Loop() {
		ev, err := DecodeVehicleEvent(benchVehicleJackson)
		if err != nil {
			b.Fatal(err)
		}
		sinkEvent = ev
	}
}

// BenchmarkStdlibJSONDecodeVehicle is the encoding/json baseline: struct
// decoding plus the type lookup, without any of the codec's other checks
// (duplicates, UTF-8, ranges), so it flatters encoding/json.
func BenchmarkStdlibJSONDecodeVehicle(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchVehicle)))
	for b.Loop() {
		var s stdVehicle
		if err := json.Unmarshal(benchVehicle, &s); err != nil {
			b.Fatal(err)
		}
		t, err := model.ParseVehicleType(s.VehicleType)
		if err != nil {
			b.Fatal(err)
		}
		sinkVeh = model.Vehicle{PlateNumber: s.PlateNumber, VignetteStickerID: s.VignetteStickerID, Timestamp: s.Timestamp, VehicleType: t}
	}
}

// BenchmarkStdlibJSONValid is the floor of any encoding/json design: only
// checking the syntax, as a pre-pass before a faster field extraction would.
func BenchmarkStdlibJSONValid(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchVehicle)))
	for b.Loop() {
		if !json.Valid(benchVehicle) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkAppendVehicle(b *testing.B) {
	b.ReportAllocs()
	ev, err := DecodeVehicleEvent(benchVehicle)
	if err != nil {
		b.Fatal(err)
	}
	v := model.Vehicle{PlateNumber: "CA1234AB", VignetteStickerID: "5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11",
		Timestamp: model.TimeFromMillis(ev.EventTime), VehicleType: ev.Type}
	buf := make([]byte, 0, 256)
	for b.Loop() {
		sinkBytes = AppendVehicle(buf[:0], v)
	}
}

func BenchmarkAppendStatistics(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 128)
	for b.Loop() {
		buf = AppendStatistics(buf[:0], benchStatistics)
	}
	sinkBytes = buf
}

func BenchmarkStdlibJSONEncodeStatistics(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(stdStatistics{
			Start:       benchStatistics.Start.Format("2006-01-02T15:04:05.000Z07:00"),
			End:         benchStatistics.End.Format("2006-01-02T15:04:05.000Z07:00"),
			VehicleType: benchStatistics.VehicleType.String(),
			Count:       benchStatistics.Count,
		})
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes = out
	}
}

func BenchmarkStatisticsDecode(b *testing.B) {
	b.ReportAllocs()
	data := AppendStatistics(nil, benchStatistics)
	var c StatisticsCodec
	for b.Loop() {
		s, err := c.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		sinkVeh.Timestamp = s.Start
	}
}

func BenchmarkAppendTimestampMillis(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 32)
	for b.Loop() {
		buf = AppendTimestampMillis(buf[:0], 1763768705123)
	}
	sinkBytes = buf
}

func BenchmarkTimeAppendFormat(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 32)
	t := time.UnixMilli(1763768705123).UTC()
	for b.Loop() {
		buf = t.AppendFormat(buf[:0], "2006-01-02T15:04:05.000Z07:00")
	}
	sinkBytes = buf
}
