// Package eventtime is the event-time core of stats-processor, exactly as
// docs/contract.md defines it, in plain Go with no I/O: tumbling windows
// aligned to the Unix epoch, per-partition watermarks with bounded
// out-of-orderness, late-event detection, per-window partial counts of one
// partition, idleness, and the pipeline watermark over all partitions.
//
// All times are epoch milliseconds (int64). NoWatermark stands for "no event
// seen yet"; it is below every real time.
//
// A Partition is owned by one goroutine at a time and is not safe for
// concurrent use. Nothing here fails: the functions are total over their
// inputs, given a positive window size (Config.Validate checks it).
package eventtime
