package live

import (
	"slices"
	"testing"
	"time"
)

// TestCompare: the loader's counts against output records that are exact,
// off by one, missing, of a type not sent, or of a window not measured.
func TestCompare(t *testing.T) {
	w := func(start int64, typ string) WindowType { return WindowType{Start: start, Type: typ} }
	counts := map[WindowType]int64{w(0, "CAR"): 5, w(0, "BUS"): 1, w(1000, "CAR"): 7, w(2000, "CAR"): 3}
	want := []WindowType{w(0, "CAR"), w(0, "BUS"), w(1000, "CAR")}
	a := func(k WindowType, count int64) Arrival {
		return Arrival{Key: k.Type + ":" + time.UnixMilli(k.Start).UTC().Format("05"), W: k, Count: count}
	}
	exact := []Arrival{a(w(0, "CAR"), 5), a(w(0, "BUS"), 1), a(w(1000, "CAR"), 7), a(w(2000, "CAR"), 3)}
	c := Compare(counts, want, exact)
	if len(c.Problems) != 0 || c.Fatal || c.Windows != 2 || c.Sent != 13 || c.Counted != 13 || len(c.Measured) != 3 {
		t.Errorf("exact output: %+v", c)
	}
	c = Compare(counts, want, []Arrival{a(w(0, "CAR"), 6), a(w(0, "VAN"), 1), a(w(2000, "CAR"), 3)})
	slices.Sort(c.Problems)
	wantProblems := []string{
		"BUS:0 missing (1 events sent)",
		"CAR:00: count 6, sent 5",
		"CAR:1000 missing (7 events sent)",
		"VAN:00: a type the loader did not send",
		"window 00:00:01: 0 events counted, 7 sent", // window 0 sums to 6 either way
	}
	if !c.Fatal || !slices.Equal(c.Problems, wantProblems) {
		t.Errorf("problems %q, fatal %v; want %q, fatal", c.Problems, c.Fatal, wantProblems)
	}
}
