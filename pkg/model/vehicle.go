package model

import (
	"time"
	"unicode/utf8"
)

// Vehicle is one event of the input topic: a vehicle seen by a camera.
type Vehicle struct {
	// PlateNumber is the licence plate; required, non-empty.
	PlateNumber string
	// VignetteStickerID identifies the toll sticker; may be empty.
	VignetteStickerID string
	// Timestamp is the event time, in UTC with millisecond precision when it
	// comes from a decoder. Finer precision is allowed but ignored by
	// EventTime and by the encoders (truncated toward the past).
	Timestamp time.Time
	// VehicleType is the kind of vehicle; must be Valid.
	VehicleType VehicleType
}

// VehicleStatistics is one record of the output topic: how many vehicles of
// one type had their event time in the window [Start, End).
type VehicleStatistics struct {
	// Start is the window's inclusive lower bound, UTC.
	Start time.Time
	// End is the window's exclusive upper bound, UTC.
	End time.Time
	// VehicleType is the type counted.
	VehicleType VehicleType
	// Count is the number of events of VehicleType in the window.
	Count int64
}

// Validate checks v against the contract: PlateNumber non-empty, both strings
// valid UTF-8 (they are written out as JSON), VehicleType valid, Timestamp
// non-zero and within MinEventTime..MaxEventTime. It returns the first
// problem, in field order, as a *FieldError (which matches
// ErrInvalidVehicle), or nil.
//
// The zero time.Time (0001-01-01T00:00:00Z) counts as missing even though it
// is within range: it is what an unset field holds.
func (v Vehicle) Validate() error {
	if v.PlateNumber == "" {
		return &FieldError{Field: "plateNumber", Reason: "must not be empty", Err: ErrMissingField}
	}
	if !utf8.ValidString(v.PlateNumber) {
		return &FieldError{Field: "plateNumber", Reason: "invalid UTF-8", Err: ErrInvalidUTF8}
	}
	if !utf8.ValidString(v.VignetteStickerID) {
		return &FieldError{Field: "vignetteStickerId", Reason: "invalid UTF-8", Err: ErrInvalidUTF8}
	}
	if err := ValidateTimestamp(v.Timestamp); err != nil {
		return err
	}
	if v.VehicleType == VehicleTypeUnknown {
		return &FieldError{Field: "vehicleType", Reason: "required", Err: ErrMissingField}
	}
	if !v.VehicleType.Valid() {
		return &FieldError{Field: "vehicleType", Reason: "unknown vehicle type " + v.VehicleType.String(), Err: ErrUnknownVehicleType}
	}
	return nil
}

// ValidateTimestamp applies Validate's timestamp rule to t alone: non-zero,
// and its millisecond (truncated toward the past) within
// MinEventTime..MaxEventTime. It returns a *FieldError for "timestamp".
func ValidateTimestamp(t time.Time) error {
	if t.IsZero() {
		return &FieldError{Field: "timestamp", Reason: "required (zero time)", Err: ErrMissingField}
	}
	// Compare by year first: UnixMilli overflows for times about 292 million
	// years away, which time.Time can hold.
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return &FieldError{Field: "timestamp", Reason: "time out of range", Err: ErrTimestampOutOfRange}
	}
	return ValidateEventTime(t.UnixMilli())
}

// ValidateEventTime applies Validate's timestamp rule to an event time in
// epoch milliseconds: within MinEventTime..MaxEventTime and not the zero
// time.Time (ZeroTimeMillis). It returns a *FieldError for "timestamp".
func ValidateEventTime(ms int64) error {
	if ms < MinEventTime || ms > MaxEventTime {
		return &FieldError{Field: "timestamp", Reason: "time out of range", Err: ErrTimestampOutOfRange}
	}
	if ms == ZeroTimeMillis {
		return &FieldError{Field: "timestamp", Reason: "required (zero time)", Err: ErrMissingField}
	}
	return nil
}

// EventTime returns the event time in epoch milliseconds, truncated toward
// the past (floor), the unit of window assignment.
func (v Vehicle) EventTime() int64 {
	return v.Timestamp.UnixMilli()
}

// TimeFromMillis returns the UTC time of an epoch-millisecond instant. It is
// the inverse of Vehicle.EventTime for millisecond-precision times and does
// not allocate.
func TimeFromMillis(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}
