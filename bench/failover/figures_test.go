package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/live"
)

// TestMeasureFigures: a fault at T = 10.3 s; 1 s windows, each of two
// types whose records arrive apart: a window's arrival is its last record's.
func TestMeasureFigures(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	var measured []live.Arrival
	add := func(start int, arrivals ...float64) {
		for i, a := range arrivals {
			measured = append(measured, live.Arrival{
				W:   live.WindowType{Start: base.Add(time.Duration(start) * time.Second).UnixMilli(), Type: []string{"CAR", "BUS"}[i]},
				End: at(float64(start + 1)), At: at(a),
			})
		}
	}
	add(0, 1.1, 1.2)    // ends 1: more than 10 s before T, not in "before"
	add(1, 2.1, 2.3)    // delay 0.3
	add(8, 9.1, 9.1)    // delay 0.1
	add(9, 10.2, 10.4)  // ends 10, before T: delay 0.4
	add(10, 20.0, 22.5) // ends 11, the first after T: recovery 22.5 - 11 = 11.5, T → 12.2
	add(11, 22.5, 22.6) // ends 12: delay 10.6
	add(60, 61.0, 80.0) // ends 61, after T + 40 s: not in the max
	f := measureFigures(measured, at(10.3), 40*time.Second)
	want := figures{t: at(10.3), before: 300 * time.Millisecond, next: at(11), nextAt: at(22.5),
		recovery: 11500 * time.Millisecond, toNext: 12200 * time.Millisecond, maxDelay: 11500 * time.Millisecond, maxEnd: at(11)}
	if f != want {
		t.Errorf("measureFigures =\n%+v, want\n%+v", f, want)
	}
	// A fault after every window: nothing measured after it.
	if f := measureFigures(measured, at(100), 40*time.Second); !f.next.IsZero() || f.maxDelay != 0 {
		t.Errorf("fault after the last window: %+v, want no next window and no max", f)
	}
}

// TestAppendSection: the section is created once at the end, later runs go
// at its end, before the next section, and the rest stays as it was.
func TestAppendSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write("# Doc\n\n## A\n\na\n")
	if err := appendSection(path, "Failover", "intro\n", "run 1\n"); err != nil {
		t.Fatal(err)
	}
	if got, want := read(), "# Doc\n\n## A\n\na\n\n## Failover\n\nintro\n\nrun 1\n"; got != want {
		t.Errorf("first run:\n%q\nwant\n%q", got, want)
	}
	write(read() + "\n## B\n\nb\n")
	if err := appendSection(path, "Failover", "intro\n", "run 2\n"); err != nil {
		t.Fatal(err)
	}
	if got, want := read(), "# Doc\n\n## A\n\na\n\n## Failover\n\nintro\n\nrun 1\n\nrun 2\n\n## B\n\nb\n"; got != want {
		t.Errorf("second run:\n%q\nwant\n%q", got, want)
	}
}
