package closer

import (
	"testing"
	"time"
)

// The holder reads every status on each tick up to 250 partitions at the
// default 250 ms; beyond, no more than 1,000 statuses a second.
func TestFullReadEvery(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		n        int
		want     time.Duration
	}{
		{250 * time.Millisecond, 6, 250 * time.Millisecond},
		{250 * time.Millisecond, 250, 250 * time.Millisecond},
		{250 * time.Millisecond, 240, 250 * time.Millisecond},
		{250 * time.Millisecond, 1000, time.Second},
		{250 * time.Millisecond, 5000, 5 * time.Second},
		{2 * time.Second, 1000, 2 * time.Second},
	} {
		if got := fullReadEvery(tc.interval, tc.n); got != tc.want {
			t.Errorf("fullReadEvery(%s, %d) = %s, want %s", tc.interval, tc.n, got, tc.want)
		}
	}
}
