package contracttest

import (
	"strconv"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
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

// OutputKey is the output record key of k: "CAR:1795304700000".
func (k Key) OutputKey() string {
	return k.Type.String() + ":" + strconv.FormatInt(k.Start, 10)
}

// Tally is the oracle fed one event at a time, each partition's events in
// log order (partitions may interleave). The zero value is not usable: see
// NewTally. It is not safe for concurrent use.
type Tally struct {
	size, bound int64
	counts      map[Key]int64
	largest     map[int]int64
	late        int
}

// NewTally counts windows of size window with the watermark's bounded
// out-of-orderness ooo.
func NewTally(window, ooo time.Duration) *Tally {
	return &Tally{size: window.Milliseconds(), bound: ooo.Milliseconds(), counts: map[Key]int64{}, largest: map[int]int64{}}
}

// Add counts e, or reports it late. Windows are tumbling and aligned to the
// epoch, [t - t mod size, ... + size) with mod rounding down, also for
// times before 1970; an event is late when its window's end - 1 is at or
// below its partition's watermark just before it (the largest event time
// seen so far on the partition, minus ooo, minus 1 ms).
func (t *Tally) Add(e Event) (late bool) {
	start := e.Time - ((e.Time%t.size)+t.size)%t.size
	m, seen := t.largest[e.Partition]
	if seen && start+t.size-1 <= m-t.bound-1 {
		t.late++
		late = true
	} else {
		t.counts[Key{start, e.Type}]++
	}
	if !seen || e.Time > m {
		t.largest[e.Partition] = e.Time
	}
	return late
}

// Counts is the count of every (window, type) so far; the map is the
// Tally's own, not a copy.
func (t *Tally) Counts() map[Key]int64 { return t.counts }

// Late is the number of late events so far.
func (t *Tally) Late() int { return t.late }

// Expected is the contract's result for events given in each partition's
// log order: the count of every (window, type) and the number of late
// events (see Tally.Add).
func Expected(events []Event, window, ooo time.Duration) (counts map[Key]int64, late int) {
	t := NewTally(window, ooo)
	for _, e := range events {
		t.Add(e)
	}
	return t.Counts(), t.Late()
}

// Settings are the processor's settings that its output depends on.
type Settings struct {
	Window, MaxOutOfOrderness time.Duration
	// MaxFuture is watermark.max_future; 0 turns the check off.
	MaxFuture time.Duration
}

// Input is one record of the input topic as the processor reads it.
type Input struct {
	Partition int
	Value     []byte
	// RecordTime is the Kafka record's timestamp, epoch ms; at or below 0:
	// none.
	RecordTime int64
}

// Result is the contract's output for an input log.
type Result struct {
	Counts map[Key]int64
	// Events are the valid events, Late those of them that were late, Bad
	// the records that belong on the dead-letter topic.
	Events, Late, Bad int
}

// ExpectedLog is the contract's result for raw input records in each
// partition's log order: a record that does not decode as a vehicle, or
// whose event time is more than s.MaxFuture ahead of its record timestamp
// (of readTime, epoch ms, when it has none), is bad; the rest are events
// for Expected.
func ExpectedLog(log []Input, s Settings, readTime int64) Result {
	t := NewTally(s.Window, s.MaxOutOfOrderness)
	var r Result
	for _, in := range log {
		ev, err := serde.DecodeVehicleEvent(in.Value)
		if err != nil || tooFarAhead(ev.EventTime, in.RecordTime, readTime, s.MaxFuture) {
			r.Bad++
			continue
		}
		r.Events++
		t.Add(Event{Partition: in.Partition, Time: ev.EventTime, Type: ev.Type})
	}
	r.Counts, r.Late = t.Counts(), t.Late()
	return r
}

// tooFarAhead is the contract's max_future rule: more than maxFuture ahead
// of the record's timestamp, or of the read time for a record without one.
func tooFarAhead(eventTime, recordTime, readTime int64, maxFuture time.Duration) bool {
	if maxFuture <= 0 {
		return false
	}
	ref := recordTime
	if ref <= 0 {
		ref = readTime
	}
	return eventTime > ref && eventTime-ref > maxFuture.Milliseconds()
}
