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
// reports -1, kafka-go a zero time.Time); CheckFuture has nothing to compare
// it with and accepts the event.
const NoRecordTime int64 = math.MinInt64

// FutureError is the error of CheckFuture; it wraps ErrFutureEvent.
type FutureError struct {
	// EventTime and RecordTime are epoch milliseconds.
	EventTime, RecordTime int64
	// MaxFuture is the bound that was exceeded.
	MaxFuture time.Duration
}

func (e *FutureError) Error() string {
	return fmt.Sprintf("event time %s is more than %s ahead of the record timestamp %s",
		formatMillis(e.EventTime), e.MaxFuture, formatMillis(e.RecordTime))
}

func (e *FutureError) Unwrap() error { return ErrFutureEvent }

// CheckFuture returns a *FutureError when eventTime is more than maxFuture
// ahead of recordTime (both epoch ms), and nil otherwise: an event exactly
// maxFuture ahead passes, one millisecond more does not. A maxFuture of 0
// turns the check off, and a record without a timestamp (NoRecordTime)
// always passes.
//
// The bound is taken from the record's timestamp, not from the wall clock,
// so that the decision, and the output, stays a function of the log: a
// replay a year later rejects exactly the same records.
func CheckFuture(eventTime, recordTime int64, maxFuture time.Duration) error {
	if maxFuture <= 0 || recordTime == NoRecordTime {
		return nil
	}
	bound := recordTime + maxFuture.Milliseconds()
	if bound < recordTime { // overflow: nothing can be beyond it
		return nil
	}
	if eventTime > bound {
		return &FutureError{EventTime: eventTime, RecordTime: recordTime, MaxFuture: maxFuture}
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
