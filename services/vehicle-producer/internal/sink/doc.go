// Package sink delivers the producer's encoded records to a Kafka topic with
// at-least-once semantics, through an asynchronous kafka-go Writer.
//
// Delivery: a record counts as sent only when Kafka acknowledged it with
// acks=all. Records handed over but not yet acknowledged are "in flight";
// their number is bounded by Config.MaxInFlight, and Acquire blocks the
// caller while the window is full, so a slow or absent broker slows the
// producer down instead of filling memory. A produce request that fails
// (after the writer's own attempts) is sent again, with backoff, for as long
// as the sink is open; nothing is dropped silently. A retry after a lost
// acknowledgement writes the records twice, as any Kafka producer without
// idempotence does, and retried records may land after newer ones.
//
// Records are keyed by plate number and spread with the murmur2 hash, the
// Java client's default partitioner, so a plate always lands on the same
// partition, and on the same one a Java producer would pick.
//
// How it fails: New refuses a bad Config. EnsureTopic retries until its
// context ends, then returns the last error. A permanent Kafka error (one a
// retry cannot fix, such as an authorization failure or a request larger
// than the broker accepts) is handed to Options.OnFatal; everything else is
// retried and shows in Check (the /readyz check) and in the log.
package sink
