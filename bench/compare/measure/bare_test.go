package main

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseBareLine(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       map[string]string
	}{
		{name: "figures", line: "barefetch: records=2000005 fetches=84 max_wait=500ms",
			want: map[string]string{"records": "2000005", "fetches": "84", "max_wait": "500ms"}},
		{name: "another tool's line", line: "start.time, end.time, data.consumed.in.MB"},
		{name: "no figures", line: "barefetch: "},
		{name: "an error", line: "barefetch: partitions of t: unknown topic"},
		{name: "not at the start", line: "  barefetch: records=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseBareLine(tc.line)
			if ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseBareLine(%q) = %v, %v; want %v", tc.line, got, ok, tc.want)
			}
		})
	}
}

func TestCountingRatio(t *testing.T) {
	ok := func(eps float64) Result { return Result{Status: "ok", Events: 1000, EventsPerSecond: eps} }
	counted := func(s float64) Result { return Result{Status: "ok", Events: 1000, CountedSeconds: s} }
	for _, tc := range []struct {
		name       string
		ours, bare []Result
		medians    float64
		perRound   []float64
	}{
		{name: "one round", ours: []Result{counted(2)}, bare: []Result{ok(1000)},
			medians: 0.5, perRound: []float64{0.5}},
		{name: "medians of three rounds, and each round's own",
			ours:    []Result{counted(1), counted(2), counted(4)}, // 1000, 500, 250 events/s
			bare:    []Result{ok(1000), ok(400), ok(500)},
			medians: 1, perRound: []float64{1, 1.25, 0.5}},
		{name: "a round where ours did not count everything, one where the bare fetch failed",
			ours:    []Result{counted(1), {Status: "timeout", Events: 1000}, counted(1)},
			bare:    []Result{ok(500), ok(500), {Status: "failed", EventsPerSecond: 0}},
			medians: 2, perRound: []float64{2, 0, 0}},
		{name: "no bare fetch completed", ours: []Result{counted(1)}, bare: []Result{{Status: "missing"}},
			medians: 0, perRound: []float64{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, per := countingRatio(system{label: "ours", runs: tc.ours}, system{label: "bare", runs: tc.bare})
			if math.Abs(m-tc.medians) > 1e-9 || !reflect.DeepEqual(per, tc.perRound) {
				t.Errorf("countingRatio = %v, %v; want %v, %v", m, per, tc.medians, tc.perRound)
			}
		})
	}
}

// TestWriteBare: the summary line names the ratio, the goal and whether it
// is met, and quotes the bare fetch's own figures from its log.
func TestWriteBare(t *testing.T) {
	log := filepath.Join(t.TempDir(), "bare.log")
	if err := os.WriteFile(log, []byte("barefetch: max_bytes=4194304 max_wait=500ms fetches=84 fetch_records_per_s=1308345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ours := system{runs: []Result{{Status: "ok", Events: 1000, CountedSeconds: 2, EventsPerSecond: 250, CPUUserSeconds: 0.0008, CPUSysSeconds: 0.0002}}}
	bare := system{label: "bare kafka-go fetch (limit)", runs: []Result{{Status: "ok", Events: 1000, EventsPerSecond: 1000, CPUUserSeconds: 0.0004, Log: log}}}
	var b strings.Builder
	writeBare(&b, ours, bare)
	for _, want := range []string{
		"stats-processor / bare fetch = 0.50 (goal ≥ 0.9, not met)",
		"counted the input at 500 events/s", "read it at 1,000 events/s", "Per round: 0.50.", "ours is 0.25 of the bare fetch",
		"CPU per event (medians, which vary less with the machine's load than the rates): ours 1.00 µs, the bare fetch 0.40 µs, a ratio of 0.40.",
		"1,308,345 records/s, in 84 fetches of at most 4194304 bytes with a wait of at most 500ms",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary does not say %q:\n%s", want, b.String())
		}
	}
}
