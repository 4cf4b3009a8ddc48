// Package consumer is the consuming half of stats-processor: it reads the
// input topic as a member of a Kafka consumer group, one worker per assigned
// partition that fetches a batch over the partition leader's connection,
// decodes and validates each record (serde.DecodeVehicleEvent), classifies
// and counts it (package eventtime), queues bad records for the dead-letter
// topic and late events for the late topic, and saves the partition's
// counts, offset, largest event time and idle lease to the Store in one
// fenced step (package state). The closing half is package closer.
//
// How it fails: a record that does not decode goes to the dead-letter topic
// and the stream goes on. A Kafka or Redis error makes the partition worker
// back off and resume from the last saved state, so nothing is counted twice
// or lost; a fenced checkpoint (another instance took the partition over, or
// its window closed meanwhile) makes it reload and replay at once. Memory is
// bounded: a worker fetches no more until its state is saved, and holds at
// most Config.SidePendingMaxBytes of dead letters and late events (it stops
// reading its batch there and saves). A side write that fails three times in
// a row is reported (/readyz "side_outputs", side_output_stuck, an error
// logged) until it succeeds.
//
// See docs/stats-processor-design.md for the whole design.
package consumer
