// Package eventtimetest computes what docs/contract.md says
// stats-processor outputs for an input log, naively and apart from package
// eventtime: the one oracle of the end-to-end tests' expected counts. Its
// own test checks it against eventtime.
package eventtimetest

import (
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Event is one valid input event.
type Event struct {
	Partition int
	// Time is the event time, epoch ms.
	Time int64
	Type model.VehicleType
}

// Key is one output record: a window (by its start) and a vehicle type.
type Key struct {
	Start int64
	Type  model.VehicleType
}

// Expected is the contract's result for events given in each partition's
// log order (partitions may interleave): the count of every (window, type)
// and the number of late events. Windows are tumbling and aligned to the
// epoch, [t - t mod size, ... + size) with mod rounding down, also for
// times before 1970; an event is late when its window's end - 1 is at or
// below its partition's watermark just before it (the largest event time
// seen so far on the partition, minus ooo, minus 1 ms). It assumes no window
// closed while a partition was idle, as in a preloaded or steady stream.
func Expected(events []Event, window, ooo time.Duration) (counts map[Key]int64, late int) {
	size, bound := window.Milliseconds(), ooo.Milliseconds()
	counts = map[Key]int64{}
	largest := map[int]int64{}
	for _, e := range events {
		start := e.Time - ((e.Time%size)+size)%size
		if m, seen := largest[e.Partition]; seen && start+size-1 <= m-bound-1 {
			late++
		} else {
			counts[Key{start, e.Type}]++
		}
		if m, seen := largest[e.Partition]; !seen || e.Time > m {
			largest[e.Partition] = e.Time
		}
	}
	return counts, late
}
