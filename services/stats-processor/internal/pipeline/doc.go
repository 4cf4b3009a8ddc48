// Package pipeline runs stats-processor: it consumes the input topic as a
// member of a Kafka consumer group, one goroutine per assigned partition,
// counts valid events per event-time window (package eventtime), saves each
// partition's counts, offset and watermark to Redis in one fenced step
// (package state), and closes windows once the pipeline watermark passes
// them, writing one VehicleStatistics record per window and type.
//
// How it fails: a record that does not decode goes to the dead-letter topic
// and the stream goes on. A Kafka or Redis error makes the partition worker
// back off and resume from the last saved state, so nothing is counted twice
// or lost; a fenced checkpoint (another instance took the partition over, or
// the window closed meanwhile) makes it reload and replay at once. Memory is
// bounded: a worker fetches no more until its state is saved.
//
// See docs/stats-processor-design.md for the whole design.
package pipeline
