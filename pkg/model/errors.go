package model

import "errors"

// ErrInvalidVehicle matches every error that says a Vehicle breaks the
// contract: every *FieldError matches it with errors.Is.
var ErrInvalidVehicle = errors.New("invalid vehicle")

// ErrUnknownVehicleType says a vehicle type is not one of the contract's
// names (or, for a VehicleType value, not in 1..NumVehicleTypes).
var ErrUnknownVehicleType = errors.New("unknown vehicle type")

// ErrMissingField says a required field is absent, null, or empty where the
// contract wants a value.
var ErrMissingField = errors.New("missing field")

// ErrTimestampOutOfRange says an event time lies outside
// MinEventTime..MaxEventTime, the range RFC 3339 with a four-digit year can
// express.
var ErrTimestampOutOfRange = errors.New("timestamp out of range")

// FieldError says which field of a record is wrong and why. Its Error text is
// short enough for a Kafka header, e.g.
// `vehicleType: unknown vehicle type "BIKE"`.
//
// Err is a sentinel (one of this package's, or a decoder's own such as a
// wrong JSON type); Unwrap returns it. A FieldError also matches
// ErrInvalidVehicle with errors.Is, whatever its Err.
type FieldError struct {
	// Field is the contract's (JSON) name of the field, e.g. "plateNumber".
	Field string
	// Reason is a short human explanation without the field name.
	Reason string
	// Err is the sentinel that classifies the problem.
	Err error
}

// Error returns "field: reason".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Unwrap returns the sentinel that classifies the problem.
func (e *FieldError) Unwrap() error { return e.Err }

// Is makes every FieldError match ErrInvalidVehicle, so callers can tell a
// bad record from other failures without listing every sentinel.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidVehicle }

// ErrInvalidUTF8 says a string field is not valid UTF-8, which JSON cannot
// carry unchanged.
var ErrInvalidUTF8 = errors.New("invalid UTF-8")
