package state_test

import (
	"fmt"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

func TestWoken(t *testing.T) {
	many := make([]int, state.MaxWoken+1)
	for i := range many {
		many[i] = i
	}
	for _, tc := range []struct {
		name  string
		added []int
		want  string // the partitions, or "all", or "empty"
	}{
		{"nothing", nil, "empty"},
		{"merged, ascending, once each", []int{7, 3, 7, 0}, "[0 3 7]"},
		{"a wake naming none", []int{4, -1, 5}, "all"},
		{"state.MaxWoken names", many[:state.MaxWoken], fmt.Sprint(many[:state.MaxWoken])},
		{"one more", many, "all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w state.Woken
			for _, p := range tc.added {
				w.Add(p)
			}
			got := fmt.Sprint(w.Partitions())
			switch {
			case w.Empty():
				got = "empty"
			case w.Partitions() == nil:
				got = "all"
			}
			if got != tc.want {
				t.Errorf("%v: got %s, want %s", tc.added, got, tc.want)
			}
		})
	}
}
