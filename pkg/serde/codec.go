package serde

import (
	"fmt"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Codec turns values of T into bytes and back. Implementations are stateless
// and safe for concurrent use. Decode validates: it returns a value only if
// it meets the contract, and a *DecodeError otherwise. Encode refuses values
// that Decode would refuse, so what is written can always be read back.
type Codec[T any] interface {
	// Encode returns the contract's JSON form of v.
	Encode(v T) ([]byte, error)
	// Decode parses and validates one record.
	Decode(data []byte) (T, error)
}

// VehicleCodec is the Codec of the input topic's records.
//
// Encode writes
// {"plateNumber":...,"vignetteStickerId":...,"timestamp":"2026-11-21T23:45:05.123Z","vehicleType":"CAR"}
// with the timestamp in UTC, truncated to the millisecond. Decode reads every
// form the contract allows (see the package documentation) and returns the
// timestamp in UTC at millisecond precision; an absent or null
// vignetteStickerId decodes as "".
type VehicleCodec struct{}

var _ Codec[model.Vehicle] = VehicleCodec{}

// Encode returns the JSON form of v, or an error wrapping v.Validate's
// *model.FieldError.
func (VehicleCodec) Encode(v model.Vehicle) ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("encode vehicle: %w", err)
	}
	// 108 bytes of structure with the longest type name; escapes may grow it.
	buf := make([]byte, 0, 108+len(v.PlateNumber)+len(v.VignetteStickerID))
	return AppendVehicle(buf, v), nil
}

// Decode parses and validates one Vehicle record.
func (VehicleCodec) Decode(data []byte) (model.Vehicle, error) {
	var r vehicleRecord
	if err := r.scan(data, true); err != nil {
		return model.Vehicle{}, err
	}
	v := model.Vehicle{
		PlateNumber:       r.plate,
		VignetteStickerID: r.vignette,
		Timestamp:         model.TimeFromMillis(r.eventTime),
		VehicleType:       r.vtype,
	}
	// The scanner has applied every rule of v.Validate already (and stricter
	// ones); the fuzz targets check that every decoded vehicle passes
	// Validate, so it is not run twice here.
	return v, nil
}

// VehicleEvent is what counting needs from a Vehicle record.
type VehicleEvent struct {
	// Type is the vehicle type, always valid.
	Type model.VehicleType
	// EventTime is the event time in epoch milliseconds.
	EventTime int64
}

// DecodeVehicleEvent is the processor's per-event decoder. It validates the
// whole record exactly as VehicleCodec.Decode does (same accept and reject
// decisions, same errors, same type and event time) but builds no strings,
// so it does not allocate on valid input.
func DecodeVehicleEvent(data []byte) (VehicleEvent, error) {
	var r vehicleRecord
	if err := r.scan(data, false); err != nil {
		return VehicleEvent{}, err
	}
	return VehicleEvent{Type: r.vtype, EventTime: r.eventTime}, nil
}

// StatisticsCodec is the Codec of the output topic's records. Encode is
// byte-exact and deterministic, which the output's idempotence relies on:
// {"start":"2026-11-21T23:45:00.000Z","end":"2026-11-21T23:45:20.000Z","vehicleType":"CAR","count":42}
type StatisticsCodec struct{}

var _ Codec[model.VehicleStatistics] = StatisticsCodec{}

// Encode returns the JSON form of s. It refuses an invalid vehicle type, a
// negative count, and bounds outside the event-time range, none of which
// Decode would read back.
func (StatisticsCodec) Encode(s model.VehicleStatistics) ([]byte, error) {
	if err := validateStatistics(s); err != nil {
		return nil, fmt.Errorf("encode statistics: %w", err)
	}
	return AppendStatistics(make([]byte, 0, 128), s), nil
}

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
