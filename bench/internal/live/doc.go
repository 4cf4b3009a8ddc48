// Package live is what the live benchmarks (bench/latency, bench/failover)
// share: a loader that writes Vehicle events at a fixed rate, stamped with
// the wall clock, and remembers what was acknowledged per window; a reader
// that notes when each window record reaches the output topic; the check of
// those records against what was sent; and the start of the systems under
// test (stats-processor instances, the Kafka Streams reference).
//
// Nothing here retries: a broker, Redis or process that fails makes the
// function return its error, and the benchmark's row fails.
package live
