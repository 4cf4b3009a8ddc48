// Package closer closes windows for stats-processor: it computes the
// pipeline watermark (the minimum over the input partitions that are not
// idle, from the state every instance saved), and while this instance holds
// the closer lease it closes every window the watermark passed through the
// state's CloseThrough, writing one VehicleStatistics record per window and
// vehicle type with a non-zero count (key "<TYPE>:<start ms>", record time
// end - 1 ms) and waiting for the acks before the windows are marked closed.
//
// How it fails: a Kafka or Redis error ends the round, is counted and
// logged, and the next round (every Interval) repeats it; the sealed
// partials are still there, so the same records are written again, byte for
// byte. The lease only prevents duplicate work: two closers that overlap
// write identical records.
package closer
