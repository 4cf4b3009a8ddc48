// Package serde encodes and decodes the pipeline's records: the Vehicle of
// the input topic and the VehicleStatistics of the output topic, exactly as
// the data contract (shared/CONTRACT.md) defines them.
package serde
