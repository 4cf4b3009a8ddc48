// Command soak runs the pipeline for a long time under faults and checks
// that it neither drifts nor miscounts: the real local stack, the
// vehicle-producer at a steady rate with jitter and late events, three
// stats-processor instances, one of them killed with SIGKILL every few
// minutes and restarted, and Redis restarted now and then.
//
// Every sampling interval it records each instance's memory, goroutines
// and open file descriptors, Redis's memory and key count, the consumer lag
// and the watermark lag into a CSV file. At the end it stops the producer,
// waits for the last windows, reads the whole input topic back, computes
// the expected count of every (window, type) with the end-to-end tests'
// oracle (internal/contracttest), and compares it with every record of the output
// topic. It then fits a least-squares line through each resource over the
// last two thirds of the run, draws PNG charts and prints a summary.
//
// It fails (exit 1) when a count is wrong, missing, extra or written with
// two values, when the late topic disagrees with the oracle, or when the
// setup breaks (a binary that does not start, Kafka or Redis gone for
// good). A resource that grows is reported, not failed on: the verdict is
// a judgement over a noisy series. `make soak` runs it (DURATION=30m by
// default); it is not part of `make test`. See docs/soak.md.
package main
