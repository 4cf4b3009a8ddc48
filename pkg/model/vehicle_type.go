package model

import (
	"fmt"
	"strconv"
)

// VehicleType is the kind of a vehicle. The zero value, VehicleTypeUnknown,
// is invalid; valid types are 1..NumVehicleTypes, so a VehicleType can index
// a [NumVehicleTypes] array through Index.
type VehicleType uint8

// The vehicle types of the contract. The numbering is internal (it is never
// written out; the text form is), but it is stable so that arrays indexed by
// Index keep their meaning across versions.
const (
	// VehicleTypeUnknown is the zero value; it is never valid.
	VehicleTypeUnknown VehicleType = iota
	// Car is written "CAR".
	Car
	// Truck is written "TRUCK".
	Truck
	// Bus is written "BUS".
	Bus
	// Van is written "VAN".
	Van
	// Motorcycle is written "MOTORCYCLE".
	Motorcycle
)

// NumVehicleTypes is the number of valid vehicle types; valid types are
// 1..NumVehicleTypes and their Index is 0..NumVehicleTypes-1.
const NumVehicleTypes = 5

var (
	vehicleTypes = [NumVehicleTypes]VehicleType{Car, Truck, Bus, Van, Motorcycle}
	typeNames    = [NumVehicleTypes + 1]string{"", "CAR", "TRUCK", "BUS", "VAN", "MOTORCYCLE"}
)

// VehicleTypes returns the valid vehicle types in contract order (Car, Truck,
// Bus, Van, Motorcycle). The slice is a fresh copy the caller may modify.
func VehicleTypes() []VehicleType {
	out := vehicleTypes
	return out[:]
}

// ParseVehicleType returns the type whose contract name is s. Only the exact
// upper-case names are accepted ("CAR", not "car" or " CAR"), because the
// contract fixes the spelling and the dead-letter topic is the place for
// anything else. The error wraps ErrUnknownVehicleType.
func ParseVehicleType(s string) (VehicleType, error) {
	if t, ok := LookupVehicleType(s); ok {
		return t, nil
	}
	return VehicleTypeUnknown, fmt.Errorf("%w %s", ErrUnknownVehicleType, quoteShort(s))
}

// LookupVehicleType is ParseVehicleType without the error value: it reports
// whether s is the exact name of a valid type. It does not allocate, so
// decoders use it on the per-event path.
func LookupVehicleType(s string) (VehicleType, bool) {
	switch s {
	case "CAR":
		return Car, true
	case "TRUCK":
		return Truck, true
	case "BUS":
		return Bus, true
	case "VAN":
		return Van, true
	case "MOTORCYCLE":
		return Motorcycle, true
	}
	return VehicleTypeUnknown, false
}

// String returns the contract name ("CAR", ...), or "UNKNOWN(n)" for an
// invalid value so that a bug shows its number in logs.
func (t VehicleType) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return "UNKNOWN(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the contract's vehicle types.
func (t VehicleType) Valid() bool {
	return t >= Car && t <= NumVehicleTypes
}

// Index returns t-1, in 0..NumVehicleTypes-1 for a valid type, for arrays of
// per-type counters such as [NumVehicleTypes]int64. For an invalid type it
// returns -1, which makes an unchecked array access fail loudly.
func (t VehicleType) Index() int {
	if !t.Valid() {
		return -1
	}
	return int(t) - 1
}

// MarshalText implements encoding.TextMarshaler. An invalid type is an error,
// never the "UNKNOWN(n)" text, so that it cannot leak into the output topic.
func (t VehicleType) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownVehicleType, uint8(t))
	}
	return []byte(typeNames[t]), nil
}

// AppendText implements encoding.TextAppender with MarshalText's rules.
func (t VehicleType) AppendText(b []byte) ([]byte, error) {
	if !t.Valid() {
		return b, fmt.Errorf("%w: %d", ErrUnknownVehicleType, uint8(t))
	}
	return append(b, typeNames[t]...), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseVehicleType's
// rules. On error t is left unchanged.
func (t *VehicleType) UnmarshalText(text []byte) error {
	v, ok := LookupVehicleType(string(text))
	if !ok {
		return fmt.Errorf("%w %s", ErrUnknownVehicleType, quoteShort(string(text)))
	}
	*t = v
	return nil
}

// quoteShort quotes s for an error message, cut to a length that keeps a
// Kafka header small whatever the input was.
func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
