package live

import (
	"fmt"
	"time"
)

// Whole are the window types of res whose window starts after the loader's
// first (partial) window and ends at least 1 s before the loader stopped:
// the windows a benchmark measures.
func Whole(res LoadResult, window time.Duration) []WindowType {
	size := window.Milliseconds()
	from := res.Start.UnixMilli() - res.Start.UnixMilli()%size + size
	to := res.Stop.Add(-time.Second).UnixMilli()
	var want []WindowType
	for k := range res.Counts {
		if k.Start >= from && k.Start+size <= to {
			want = append(want, k)
		}
	}
	return want
}

// Check is how a system's output compares with what the loader sent.
type Check struct {
	// Problems name each record missing, of a type the loader did not send
	// or with another count, and each window whose sum differs.
	Problems []string
	// Fatal is set when a record is missing or of a type not sent: the
	// window's figure cannot be measured. A count that differs is not fatal.
	Fatal bool
	// Windows is the number of windows of want.
	Windows int
	// Sent and Counted are the events sent in want and those the output counted.
	Sent, Counted int64
	// Measured are the arrivals of want's window types.
	Measured []Arrival
}

// Compare checks the arrivals got against counts, what the loader
// acknowledged, for the window types want; arrivals of other windows are
// ignored.
func Compare(counts map[WindowType]int64, want []WindowType, got []Arrival) Check {
	var c Check
	wanted := map[WindowType]bool{}
	sums := map[int64][2]int64{} // per window: events sent, events counted
	for _, w := range want {
		wanted[w] = true
		s := sums[w.Start]
		s[0] += counts[w]
		sums[w.Start] = s
	}
	seen := map[WindowType]bool{}
	for _, a := range got {
		if !wanted[a.W] {
			if _, measured := sums[a.W.Start]; measured {
				c.Problems = append(c.Problems, fmt.Sprintf("%s: a type the loader did not send", a.Key))
				c.Fatal = true
			}
			continue
		}
		seen[a.W] = true
		c.Measured = append(c.Measured, a)
		s := sums[a.W.Start]
		s[1] += a.Count
		sums[a.W.Start] = s
		if a.Count != counts[a.W] {
			c.Problems = append(c.Problems, fmt.Sprintf("%s: count %d, sent %d", a.Key, a.Count, counts[a.W]))
		}
	}
	for _, w := range want {
		if !seen[w] {
			c.Problems = append(c.Problems, fmt.Sprintf("%s:%d missing (%d events sent)", w.Type, w.Start, counts[w]))
			c.Fatal = true
		}
	}
	for start, s := range sums {
		c.Sent += s[0]
		c.Counted += s[1]
		if s[0] != s[1] {
			c.Problems = append(c.Problems, fmt.Sprintf("window %s: %d events counted, %d sent",
				time.UnixMilli(start).UTC().Format("15:04:05"), s[1], s[0]))
		}
	}
	c.Windows = len(sums)
	return c
}
