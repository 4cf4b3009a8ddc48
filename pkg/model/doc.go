// Package model holds the data contract of the vehicle-statistics pipeline:
// the Vehicle read from the input topic, the VehicleStatistics written to the
// output topic, the closed set of vehicle types, and the arithmetic of
// tumbling event-time windows aligned to the Unix epoch.
//
// The package does no I/O and allocates nothing on its hot paths
// (VehicleType.String for valid types, Index, WindowStart, WindowBounds).
//
// How it fails: Vehicle.Validate reports the first problem as a *FieldError
// that names the field and wraps one of the sentinels below, and always
// matches ErrInvalidVehicle with errors.Is. ParseVehicleType wraps
// ErrUnknownVehicleType. Window arithmetic never fails on valid input; a
// non-positive window size is a programming error and panics.
package model
