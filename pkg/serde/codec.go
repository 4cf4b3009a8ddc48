package serde

import "github.com/vehicle-stats/vehicle-stats/pkg/model"

// VehicleEvent is what counting needs from a Vehicle record.
type VehicleEvent struct {
	// Type is the vehicle type, always valid.
	Type model.VehicleType
	// EventTime is the event time in epoch milliseconds.
	EventTime int64
}

// DecodeVehicleEvent is the processor's per-event decoder. It validates the
// whole record as the package documentation says but keeps only the type
// and the event time and builds no strings, so it does not allocate on valid
// input.
func DecodeVehicleEvent(data []byte) (VehicleEvent, error) {
	var r vehicleRecord
	if err := r.scan(data); err != nil {
		return VehicleEvent{}, err
	}
	return VehicleEvent{Type: r.vtype, EventTime: r.eventTime}, nil
}

// StatisticsCodec reads the output topic's records, for the benchmarks
// and tests that check them; AppendStatistics writes them.
type StatisticsCodec struct{}

// Decode parses and validates one VehicleStatistics record: all four fields
// required, start and end RFC 3339 (any offset; returned in UTC at
// millisecond precision) with start < end, a valid vehicle type, and count a
// non-negative JSON integer without fraction or exponent.
func (StatisticsCodec) Decode(data []byte) (model.VehicleStatistics, error) {
	var r statisticsRecord
	if err := r.scan(data); err != nil {
		return model.VehicleStatistics{}, err
	}
	return model.VehicleStatistics{
		Start:       model.TimeFromMillis(r.start),
		End:         model.TimeFromMillis(r.end),
		VehicleType: r.vtype,
		Count:       r.count,
	}, nil
}
