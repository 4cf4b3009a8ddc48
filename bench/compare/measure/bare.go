package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
)

// bareGoal is the goal for the processor's counting rate against
// the bare kafka-go fetch of the same input (#26 point 4).
const bareGoal = 0.9

// countedRate is the rate at which a run of ours counted its input: from
// process start until its own counter reached every input event (the idle
// timeout and the closing of the last windows come after and are not in
// it); 0 when the counter was not seen to get there.
func countedRate(r Result) float64 {
	if r.CountedSeconds <= 0 {
		return 0
	}
	return float64(r.Events) / r.CountedSeconds
}

// countingRatio compares our counting rate with the bare fetch's reading
// rate (from process start to exit, all records read): the ratio of the
// medians, and the ratio within each round (0 where either side has no
// figure).
func countingRatio(ours, bare system) (medians float64, perRound []float64) {
	var rates []float64
	for _, r := range ours.runs {
		if v := countedRate(r); v > 0 {
			rates = append(rates, v)
		}
	}
	medians = div(median(rates), bare.eps())
	for i := range min(len(ours.runs), len(bare.runs)) {
		o, b := ours.runs[i], bare.runs[i]
		v := 0.0
		if b.Status == "ok" {
			v = div(countedRate(o), b.EventsPerSecond)
		}
		perRound = append(perRound, v)
	}
	return medians, perRound
}

// writeBare writes the summary line of the limit row: ours / bare fetch,
// with both rates, the rounds, and the bare fetch's own figures.
func writeBare(b *strings.Builder, ours, bare system) {
	v, rounds := countingRatio(ours, bare)
	met := "met"
	if v < bareGoal {
		met = "not met"
	}
	var each []string
	for _, r := range rounds {
		each = append(each, ratioText(r))
	}
	var counted []float64
	for _, r := range ours.runs {
		if c := countedRate(r); c > 0 {
			counted = append(counted, c)
		}
	}
	fmt.Fprintf(b, "**stats-processor / bare fetch = %s (goal ≥ %.1f, %s)**: ours counted the input at %s events/s "+
		"(median; from its start until its `stats_processor_events_total` reached every input event: group join, Redis, decoding and counting included), "+
		"the bare kafka-go fetch read it at %s events/s (median; from its start to its exit, every record read). Per round: %s. "+
		"End to end, to the last window record (the idle timeout and the closing included), ours is %s of the bare fetch. "+
		"CPU per event (medians, which vary less with the machine's load than the rates): ours %.2f µs, the bare fetch %.2f µs, a ratio of %s.\n\n",
		ratioText(v), bareGoal, met, thousands(median(counted)), thousands(bare.eps()), strings.Join(each, ", "),
		ratioText(div(ours.eps(), bare.eps())), cpuPerEvent(ours), cpuPerEvent(bare), ratioText(div(cpuPerEvent(bare), cpuPerEvent(ours))))
	var rates, fetches []string
	var fetch map[string]string
	for _, r := range bare.runs {
		f, err := bareFigures(r.Log)
		if err != nil {
			continue
		}
		rates = append(rates, thousandsText(f["fetch_records_per_s"]))
		fetches = append(fetches, f["fetches"])
		fetch = f
	}
	if len(rates) > 0 {
		fmt.Fprintf(b, "%s, its own figures per round (from its first fetch, so without the start, the metadata lookup and the dials): %s records/s, in %s fetches "+
			"of at most %s bytes with a wait of at most %s (the processor's kafka.fetch_max_bytes and kafka.fetch_max_wait).\n\n",
			bare.label, strings.Join(rates, ", "), strings.Join(fetches, ", "), fetch["max_bytes"], fetch["max_wait"])
	}
}

// cpuPerEvent is the median CPU time of the completed runs per input
// event, in µs (0 without runs).
func cpuPerEvent(s system) float64 {
	if len(s.runs) == 0 {
		return 0
	}
	return div(s.cpu(), float64(s.runs[0].Events)) * 1e6
}

// ratioText formats a ratio with two decimals, "—" for none.
func ratioText(v float64) string {
	if v <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

// bareFigures reads the figures line bench/barefetch prints from its log.
func bareFigures(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := parseBareLine(sc.Text()); ok {
			return m, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("no barefetch figures line in " + path)
}

// parseBareLine reads "barefetch: key=value key=value ...".
func parseBareLine(line string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(line, "barefetch: ")
	if !ok {
		return nil, false
	}
	m := map[string]string{}
	for _, f := range strings.Fields(rest) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, false
		}
		m[k] = v
	}
	if len(m) == 0 {
		return nil, false
	}
	return m, true
}
