package eventtime

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// ErrFutureEvent is wrapped by the error of CheckFuture: the event time is
// too far ahead of its record's timestamp to be believed (a device whose
// clock jumped), so the record is bad rather than an event.
var ErrFutureEvent = errors.New("event time too far ahead of the record timestamp")

// NoRecordTime stands for a Kafka record without a timestamp (the broker
// reports -1, kafka-go a zero time.Time for any timestamp at or below 0);
// CheckFuture then measures the bound from the read time instead.
const NoRecordTime int64 = math.MinInt64

// FutureError is the error of CheckFuture; it wraps ErrFutureEvent.
type FutureError struct {
	// EventTime and RecordTime are epoch milliseconds; RecordTime is
	// NoRecordTime when the record had none.
	EventTime, RecordTime int64
	// ReadTime is when the record was read (epoch ms), the bound's reference
	// when the record had no timestamp; 0 otherwise.
	ReadTime int64
	// MaxFuture is the bound that was exceeded.
	MaxFuture time.Duration
}

func (e *FutureError) Error() string {
	if e.RecordTime == NoRecordTime {
		return fmt.Sprintf("event time %s is more than %s ahead of the time it was read, %s (the record has no timestamp)",
			formatMillis(e.EventTime), e.MaxFuture, formatMillis(e.ReadTime))
	}
	return fmt.Sprintf("event time %s is more than %s ahead of the record timestamp %s",
		formatMillis(e.EventTime), e.MaxFuture, formatMillis(e.RecordTime))
}

func (e *FutureError) Unwrap() error { return ErrFutureEvent }

// CheckFuture returns a *FutureError when eventTime is more than maxFuture
// ahead of recordTime (all times epoch ms), and nil otherwise: an event
// exactly maxFuture ahead passes, one millisecond more does not. A maxFuture
// of 0 turns the check off.
//
// The bound is taken from the record's timestamp, not from the wall clock,
// so that the decision, and the output, stays a function of the log: a
// replay a year later rejects exactly the same records. A record without a
// timestamp (recordTime NoRecordTime, or at or below 0: kafka-go reports
// every such timestamp as none) has nothing in the log to measure from, so
// the bound is taken from readTime, when the processor read it: the
// check has no hole, but its decision on such a record depends on when the
// record is read, and a replay (read later) may count an event the live
// run rejected.
func CheckFuture(eventTime, recordTime, readTime int64, maxFuture time.Duration) error {
	if maxFuture <= 0 {
		return nil
	}
	from := recordTime
	if recordTime <= 0 {
		recordTime, from = NoRecordTime, readTime
	}
	bound := from + maxFuture.Milliseconds()
	if bound < from { // overflow: nothing can be beyond it
		return nil
	}
	if eventTime > bound {
		e := &FutureError{EventTime: eventTime, RecordTime: recordTime, MaxFuture: maxFuture}
		if recordTime == NoRecordTime {
			e.ReadTime = readTime
		}
		return e
	}
	return nil
}

// formatMillis writes an epoch-millisecond time as RFC 3339 in UTC with
// three fraction digits, or as the raw number when it is outside the years
// 0000 to 9999 that RFC 3339 can express.
func formatMillis(ms int64) string {
	t := model.TimeFromMillis(ms)
	if y := t.Year(); y < 0 || y > 9999 {
		return fmt.Sprintf("%d ms since the epoch", ms)
	}
	return t.Format("2006-01-02T15:04:05.000Z07:00")
}

// LastWindowEnd is the latest window end the output can state: the
// contract writes window bounds as RFC 3339 with a four-digit year, so
// nothing ends after 9999-12-31T23:59:59.999Z (+1 ms).
var LastWindowEnd = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// ErrBeyondYear9999 is returned by CheckRepresentable.
var ErrBeyondYear9999 = errors.New("event time's window ends after the year 9999, which the output's RFC 3339 bounds cannot state")

// CheckRepresentable returns an error wrapping ErrBeyondYear9999 when the
// window of an event at eventTime (epoch ms), of size, ends after
// LastWindowEnd: such a window could be counted but never written or
// restored, so the record is bad. It fails only on that, and allocates
// nothing on success.
func CheckRepresentable(eventTime int64, size time.Duration) error {
	if model.WindowStart(eventTime, size.Milliseconds()) > LastWindowEnd-size.Milliseconds() {
		return fmt.Errorf("event time %s: %w", formatMillis(eventTime), ErrBeyondYear9999)
	}
	return nil
}
