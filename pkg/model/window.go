package model

// The valid event-time range, in epoch milliseconds: what RFC 3339 with a
// four-digit year can express, 0000-01-01T00:00:00.000Z through
// 9999-12-31T23:59:59.999Z. Decoders reject event times outside it with
// ErrTimestampOutOfRange, so window arithmetic on valid events never
// overflows for any window size up to about 290 million years.
const (
	// MinEventTime is 0000-01-01T00:00:00.000Z in epoch milliseconds.
	MinEventTime int64 = -62167219200000
	// MaxEventTime is 9999-12-31T23:59:59.999Z in epoch milliseconds.
	MaxEventTime int64 = 253402300799999
)

// ZeroTimeMillis is the zero time.Time (0001-01-01T00:00:00Z) in epoch
// milliseconds. Validate treats it as a missing timestamp.
const ZeroTimeMillis int64 = -62135596800000

// WindowStart returns the start of the tumbling window of the given size
// (ms, > 0) that holds t (epoch ms): windows are aligned to the Unix epoch,
// so the start is t - floorMod(t, size). It rounds toward the past for
// negative t too (Go's % truncates toward zero, which would put t = -1 in the
// window starting at 0). It panics if size <= 0.
func WindowStart(t, size int64) int64 {
	if size <= 0 {
		panic("model.WindowStart: window size must be positive")
	}
	m := t % size
	if m < 0 {
		m += size
	}
	return t - m
}

// WindowBounds returns the window [start, end) of the given size that holds
// t: start = WindowStart(t, size), end = start + size.
func WindowBounds(t, size int64) (start, end int64) {
	start = WindowStart(t, size)
	return start, start + size
}
