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

// Uncounted is what the partials hold beyond the decision, by type: none
// for a decision that is their sum; the added partitions' and stragglers'
// counts for one a record pinned.
func TestUncounted(t *testing.T) {
	partials := []map[int64]eventtime.Counts{{0: {3, 1}}, {0: {2}}, {0: {1, 1}}}
	decided := []ClosedWindow{{Start: 0, Counts: eventtime.Counts{6, 2}}, {Start: 0, Counts: eventtime.Counts{4, 2}}, {Start: 0, Counts: eventtime.Counts{7, 2}}}
	uncounted(decided, partials)
	for i, want := range []eventtime.Counts{{}, {2}, {}} {
		if decided[i].Uncounted != want {
			t.Errorf("decision %v: uncounted %v, want %v", decided[i].Counts, decided[i].Uncounted, want)
		}
	}
}
