package state

import (
	"reflect"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// A decided count whose record the read back found (same window, type,
// value and partition count) is not written again; one that differs in
// anything is; a window with nothing left is left out.
func TestUnwritten(t *testing.T) {
	all := [5]int{2, 2, 2, 2, 2}
	w0 := ClosedWindow{Start: 0, Counts: eventtime.Counts{3, 1}, Partitions: all}
	w1 := ClosedWindow{Start: 20_000, Counts: eventtime.Counts{4}, Partitions: all}
	for _, tc := range []struct {
		name  string
		found []OutputRecord
		want  []ClosedWindow
	}{
		{"nothing found", nil, []ClosedWindow{w0, w1}},
		{"all found", []OutputRecord{{0, 0, 3, 2}, {0, 1, 1, 2}, {20_000, 0, 4, 2}}, nil},
		{"one type of a window found", []OutputRecord{{0, 1, 1, 2}},
			[]ClosedWindow{{Start: 0, Counts: eventtime.Counts{3}, Partitions: all}, w1}},
		{"another value", []OutputRecord{{20_000, 0, 5, 2}}, []ClosedWindow{w0, w1}},
		{"another partition count", []OutputRecord{{20_000, 0, 4, 1}}, []ClosedWindow{w0, w1}},
		{"another window", []OutputRecord{{40_000, 0, 4, 2}}, []ClosedWindow{w0, w1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unwritten([]ClosedWindow{w0, w1}, tc.found); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("unwritten = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Uncounted is what the partials hold that the decision cannot include,
// by type: none for a decision that is their sum; for one a record pinned,
// all the counts of the partitions beyond those its header names, and
// what the covered ones hold beyond its value (stragglers), never less
// than the former (a covered partition still replaying holds less).
func TestUncounted(t *testing.T) {
	partials := []map[int64]eventtime.Counts{{0: {3, 1}}, {0: {2}}, {0: {1, 1}}}
	two := [5]int{2, 2, 2, 2, 2}
	decided := []ClosedWindow{
		{Start: 0, Counts: eventtime.Counts{6, 2}},                  // the sum
		{Start: 0, Counts: eventtime.Counts{4, 2}},                  // pinned, no header: all covered
		{Start: 0, Counts: eventtime.Counts{7, 2}},                  // pinned above the sum
		{Start: 0, Counts: eventtime.Counts{4, 1}, Partitions: two}, // over 2 partitions: 1 straggler, partition 2's 1 + 1
		{Start: 0, Counts: eventtime.Counts{6, 1}, Partitions: two}, // over 2, a covered one replaying: partition 2's only
	}
	uncounted(decided, partials)
	for i, want := range []eventtime.Counts{{}, {2}, {}, {2, 1}, {1, 1}} {
		if decided[i].Uncounted != want {
			t.Errorf("decision %v: uncounted %v, want %v", decided[i].Counts, decided[i].Uncounted, want)
		}
	}
}
