package eventtime_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	et "github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

func TestCheckFuture(t *testing.T) {
	const hour = int64(time.Hour / time.Millisecond)
	rec := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC).UnixMilli()
	year9999 := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli()
	read := rec + 10*hour // when the processor read the record: used only when it has no timestamp
	for _, c := range []struct {
		name       string
		event, rec int64
		max        time.Duration
		bad        bool
	}{
		{"exactly max_future ahead is counted", rec + hour, rec, time.Hour, false},
		{"1 ms more is a bad record", rec + hour + 1, rec, time.Hour, true},
		{"behind the record", rec - 365*24*hour, rec, time.Hour, false},
		{"equal to the record", rec, rec, time.Hour, false},
		{"year 9999", year9999, rec, time.Hour, true},
		{"year 9999, check off", year9999, rec, 0, false},
		{"1 ms bound", rec + 2, rec, time.Millisecond, true},
		{"negative event time", -62135596800000, rec, time.Hour, false},
		{"event before the epoch, record at the epoch's first ms", -5, 1, time.Hour, false},
		// Kafka record timestamps of either type arrive as a plain number:
		// CreateTime, set by the producer (often a little behind the event's
		// own clock), and LogAppendTime, set by the broker when it appended
		// the record (at or after the event for a live stream).
		{"CreateTime a little behind a live event", rec + 1500, rec, time.Hour, false},
		{"LogAppendTime after a live event", rec - 200, rec, time.Hour, false},
		{"LogAppendTime of a replayed old record", rec - 30*24*hour, rec, time.Hour, false},
		// A record without a timestamp (-1 on the wire; kafka-go reports
		// any timestamp at or below 0 as none) is measured from the read
		// time instead: the bound has no hole.
		{"no record timestamp, year 9999", year9999, et.NoRecordTime, time.Hour, true},
		{"no record timestamp, exactly max_future ahead of the read time", read + hour, et.NoRecordTime, time.Hour, false},
		{"no record timestamp, 1 ms more", read + hour + 1, et.NoRecordTime, time.Hour, true},
		{"no record timestamp, behind the read time", rec, et.NoRecordTime, time.Hour, false},
		{"record timestamp 0 is none", read + hour + 1, 0, time.Hour, true},
		{"record timestamp 0, within the bound of the read time", read + hour, 0, time.Hour, false},
		{"record timestamp -1 is none", read + hour + 1, -1, time.Hour, true},
		{"negative record timestamp is none", year9999, -1000, time.Hour, true},
		{"negative record timestamp, within the bound of the read time", read, -5_000_000_000_000, time.Hour, false},
		{"no record timestamp, check off", year9999, et.NoRecordTime, 0, false},
		{"the largest bound, 292 years", rec + 200*365*24*hour, rec, time.Duration(math.MaxInt64), false},
		{"huge record time does not overflow", math.MaxInt64, math.MaxInt64 - 10, time.Hour, false},
		{"huge event time", math.MaxInt64, rec, time.Hour, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := et.CheckFuture(c.event, c.rec, read, c.max)
			if (err != nil) != c.bad {
				t.Fatalf("CheckFuture(%d, %d, %d, %s) = %v, want bad=%v", c.event, c.rec, read, c.max, err, c.bad)
			}
			if err != nil && !errors.Is(err, et.ErrFutureEvent) {
				t.Errorf("%v does not wrap ErrFutureEvent", err)
			}
		})
	}
}

func TestFutureErrorMessage(t *testing.T) {
	rec := time.Date(2026, 12, 1, 15, 4, 5, 123e6, time.UTC).UnixMilli()
	ev := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli()
	err := et.CheckFuture(ev, rec, rec+1000, time.Hour)
	want := "event time 9999-12-31T23:59:59.000Z is more than 1h0m0s ahead of the record timestamp 2026-12-01T15:04:05.123Z"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	var fe *et.FutureError
	if !errors.As(err, &fe) || fe.EventTime != ev || fe.RecordTime != rec || fe.MaxFuture != time.Hour {
		t.Errorf("errors.As: %+v", fe)
	}
	// Without a record timestamp the message names the read time, and says
	// why it is the reference.
	err = et.CheckFuture(ev, -1, rec, time.Hour)
	want = "event time 9999-12-31T23:59:59.000Z is more than 1h0m0s ahead of the time it was read, 2026-12-01T15:04:05.123Z (the record has no timestamp)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if !errors.As(err, &fe) || fe.RecordTime != et.NoRecordTime || fe.ReadTime != rec {
		t.Errorf("errors.As: %+v", fe)
	}
	// Outside RFC 3339's years the raw number is written.
	err = et.CheckFuture(model.MaxEventTime+1e12, rec, rec, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "ms since the epoch") {
		t.Errorf("got %v", err)
	}
}

// TestFutureEventMovesNoWatermark shows why the check runs before Add: a
// far-future event given to Add would make every later event of its
// partition late.
func TestFutureEventMovesNoWatermark(t *testing.T) {
	p := et.NewPartition(cfg)
	rec := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC).UnixMilli()
	far := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli()
	counted := 0
	for i, ev := range []int64{rec, rec + 100, far, rec + 200, rec + 300} {
		if et.CheckFuture(ev, rec+int64(i), rec, time.Hour) != nil {
			continue
		}
		if !p.Add(ev, model.Car).Late() {
			counted++
		}
	}
	if counted != 4 || p.MaxEventTime() != rec+300 {
		t.Fatalf("counted %d, max %d; want 4 and %d", counted, p.MaxEventTime(), rec+300)
	}
}

func BenchmarkCheckFuture(b *testing.B) {
	rec := time.Now().UnixMilli()
	for i := range b.N {
		if et.CheckFuture(rec+int64(i&1023), rec, rec, time.Hour) != nil {
			b.Fatal("rejected")
		}
	}
}

func TestCheckRepresentable(t *testing.T) {
	size := 20 * time.Second
	last := time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC).UnixMilli()
	for _, c := range []struct {
		t  int64
		ok bool
	}{
		{time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC).UnixMilli(), true},
		{last, true}, // its window [23:59:40, 10000-01-01T00:00:00) ends exactly at the bound
		{last + 1, false},
		{math.MaxInt64, false},
		{-5_000, true},
	} {
		err := et.CheckRepresentable(c.t, size)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, et.ErrBeyondYear9999)) {
			t.Errorf("CheckRepresentable(%d) = %v, want ok %v", c.t, err, c.ok)
		}
	}
}
