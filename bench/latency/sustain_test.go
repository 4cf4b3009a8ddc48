package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/live"
)

// steps builds a ladder from (asked, verdict) pairs, each row with figures
// that tell the steps apart.
func steps(spec, name string, vs ...any) ladder {
	l := ladder{spec: spec, name: name}
	for i := 0; i < len(vs); i += 2 {
		asked, v := vs[i].(float64), vs[i+1].(live.Verdict)
		reason := map[live.Verdict]string{live.Sustainable: "sustainable", live.Unsustainable: "p99 1500 ms > 1000 ms", live.LoaderLimited: "loader-limited"}[v]
		l.steps = append(l.steps, rung{asked: asked, verdict: v, reason: reason, loadAvg: "3.5", row: row{
			held: asked, maxBehind: 12 * time.Millisecond, records: 24, windows: 4, p50: 20 * time.Millisecond, p99: 40 * time.Millisecond, max: 50 * time.Millisecond,
			check: "ok: 1 events in 4 windows", usage: live.Usage{CPU: 30 * time.Second, PeakRSS: 30 << 20}, cpuWall: 60 * time.Second,
			settings: name + " settings",
		}})
	}
	return l
}

// TestSustained: the summary's figure for a ladder that broke, ended on a
// sustainable step, met the loader's limit, or sustained nothing.
func TestSustained(t *testing.T) {
	S, U, L := live.Sustainable, live.Unsustainable, live.LoaderLimited
	for _, tc := range []struct {
		l    ladder
		want string
	}{
		{steps("ours:1", "a", 1e4, S, 5e4, S, 1e5, U), "50000 events/s"},
		{steps("ours:1", "a", 1e4, S, 5e4, S), "≥ 50000 events/s"},
		{steps("ours:1", "a", 1e4, S, 5e4, U, 5e4, S, 1e5, U, 1e5, U), "50000 events/s"}, // tried again
		{steps("ours:1", "a", 1e4, S, 5e4, L), "≥ 10000 events/s"},
		{steps("ours:1", "a", 1e4, U), "< 10000 events/s"},
		{steps("ours:1", "a", 1e4, L), "not measured (the loader fell short at the first rate)"},
		{steps("ours:1", "a"), "not measured"},
	} {
		if got := tc.l.sustainedText(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.l.steps, got, tc.want)
		}
	}
}

// TestRatio: exact, bounded on either side, and no ratio.
func TestRatio(t *testing.T) {
	S, U := live.Sustainable, live.Unsustainable
	broke := func(at float64) ladder { return steps("flink:x", "f", at/2, S, at, S, at*2, U) }
	topped := func(at float64) ladder { return steps("ours:1", "o", at, S) }
	for _, tc := range []struct {
		name         string
		ours, theirs ladder
		want         string
	}{
		{"both broke", broke(300000), broke(100000), "3.0×"},
		{"ours did not break", topped(400000), broke(100000), "≥ 4.0×"},
		{"theirs did not break", broke(100000), topped(400000), "≤ 0.2×"},
		{"neither broke", topped(1), topped(1), "no ratio (neither broke within the ladder)"},
		{"theirs sustained not the first rate", broke(100000), steps("flink:x", "f", 10000.0, U), "> 10.0× (< 10000 events/s)"},
		{"theirs loader-limited at once", broke(100000), steps("flink:x", "f", 10000.0, live.LoaderLimited), "no ratio (not measured (the loader fell short at the first rate))"},
		{"ours sustained nothing", steps("ours:1", "o", 10000.0, U), broke(100000), "no ratio (ours sustained no rate)"},
	} {
		if got := ratio(tc.ours, tc.theirs); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestRenderSustain: a row per step, a failed step without figures, the
// Redis servers' CPU and commands beside ours' where measured (one Redis,
// a cluster of three), the summary, the ratios of each of our rows (on
// Redis or on a cluster) to each Flink row, the settings.
func TestRenderSustain(t *testing.T) {
	S, U := live.Sustainable, live.Unsustainable
	ours := steps("ours:1", "ours 1", 1e4, S, 1e5, S)
	ours.steps[1].row.redis = redisUsage{servers: 1, cpu: 6 * time.Second, commands: 120000}
	cluster := steps("ours-cluster:1", "ours cluster", 1e4, S)
	cluster.steps[0].row.redis = redisUsage{servers: 3, cpu: 15 * time.Second, commands: 60000}
	flink := steps("flink:at-least-once", "Flink", 1e4, S, 2e4, U)
	flink.steps[1].row = row{}
	flink.steps[1].reason = "failed: java exited"
	streams := steps("streams", "Streams", 1e4, U)
	got := renderSustain("HEAD", []ladder{ours, cluster, flink, streams})
	want := `HEAD

| system | asked, events/s | loader held, events/s (most behind, ms) | p50 ms | p99 ms | max ms | trend ms/s | records (windows) | counts | CPU, cores | peak RSS MiB | load avg | step |
|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|
| ours 1 | 10000 | 10000 (12) | 20 | 40 | 50 | 0.0 | 24 (4) | exact | 0.50 | 30 | 3.5 | sustainable |
| ours 1 | 100000 | 100000 (12) | 20 | 40 | 50 | 0.0 | 24 (4) | exact | 0.50 (Redis 0.10, 2000 commands/s) | 30 | 3.5 | sustainable |
| ours cluster | 10000 | 10000 (12) | 20 | 40 | 50 | 0.0 | 24 (4) | exact | 0.50 (3 Redis 0.25, 1000 commands/s) | 30 | 3.5 | sustainable |
| Flink | 10000 | 10000 (12) | 20 | 40 | 50 | 0.0 | 24 (4) | exact | 0.50 | 30 | 3.5 | sustainable |
| Flink | 20000 | – | – | – | – | – | – | – | – | – | 3.5 | failed: java exited |
| Streams | 10000 | 10000 (12) | 20 | 40 | 50 | 0.0 | 24 (4) | exact | 0.50 | 30 | 3.5 | p99 1500 ms > 1000 ms |

| system | sustainable throughput |
|---|---|
| ours 1 | ≥ 100000 events/s |
| ours cluster | ≥ 10000 events/s |
| Flink | 10000 events/s |
| Streams | < 10000 events/s |

Sustainable throughput, ours over Flink's:

- ours 1 / Flink: ≥ 10.0×
- ours cluster / Flink: ≥ 1.0×

Settings:

- ours 1: ours 1 settings
- ours cluster: ours cluster settings
- Flink: Flink settings
- Streams: Streams settings
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// TestReplaceGenerated: the section between the markers is replaced and
// the rest of the page kept; a page without markers is an error.
func TestReplaceGenerated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "page.md")
	page := "# Title\n\n" + sustainBegin + "\nold table\n" + sustainEnd + "\n\nNotes.\n"
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceGenerated(path, "new table\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := "# Title\n\n" + sustainBegin + "\nnew table\n" + sustainEnd + "\n\nNotes.\n"; string(b) != want {
		t.Errorf("page:\n%s\nwant:\n%s", b, want)
	}
	if err := os.WriteFile(path, []byte("# Title\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceGenerated(path, "x"); err == nil || !strings.Contains(err.Error(), "no generated section") {
		t.Errorf("page without markers: %v", err)
	}
}
