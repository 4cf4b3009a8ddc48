package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is one resource over the run, as the summary fits and the charts
// draw it.
type Series struct {
	// Name is the column name; Label how the summary writes it.
	Name, Label string
	// Group says which chart it goes on.
	Group string
	get   func(*Sample) float64
}

// AllSeries lists the resources the summary judges, in summary order.
func AllSeries() []Series {
	var out []Series
	for i := range Instances {
		out = append(out,
			Series{fmt.Sprintf("p%d_rss_bytes", i), fmt.Sprintf("processor %d RSS, bytes", i), "rss", func(s *Sample) float64 { return s.Instances[i].RSS }},
			Series{fmt.Sprintf("p%d_heap_bytes", i), fmt.Sprintf("processor %d Go heap, bytes", i), "heap", func(s *Sample) float64 { return s.Instances[i].Heap }},
			Series{fmt.Sprintf("p%d_goroutines", i), fmt.Sprintf("processor %d goroutines", i), "goroutines", func(s *Sample) float64 { return s.Instances[i].Goroutines }},
			Series{fmt.Sprintf("p%d_open_fds", i), fmt.Sprintf("processor %d open fds", i), "fds", func(s *Sample) float64 { return s.Instances[i].OpenFDs }},
		)
	}
	return append(out,
		Series{"redis_used_memory_bytes", "Redis used_memory, bytes", "redis_memory", func(s *Sample) float64 { return s.RedisMemory }},
		Series{"redis_keys", "Redis keys (DBSIZE)", "redis_keys", func(s *Sample) float64 { return s.RedisKeys }},
		Series{"redis_ops_per_s", "Redis commands per second", "redis_ops", func(s *Sample) float64 { return s.RedisOpsPerSec }},
		Series{"consumer_lag_records", "consumer lag, records", "consumer_lag", func(s *Sample) float64 { return s.ConsumerLag }},
		Series{"watermark_lag_s", "watermark lag, s", "watermark_lag", func(s *Sample) float64 { return s.WatermarkLag }},
	)
}

// peakSeries are the lags polled every second, drawn beside the sampled
// ones but not fitted (a maximum is not a sample of the level).
func peakSeries() []Series {
	return []Series{
		{"consumer_lag_max_records", "consumer lag, largest between samples", "consumer_lag", func(s *Sample) float64 { return s.ConsumerLagMax }},
		{"watermark_lag_max_s", "watermark lag, largest between samples", "watermark_lag", func(s *Sample) float64 { return s.WatermarkLagMax }},
		{"p0_go_sys_bytes", "processor 0: memory the Go runtime obtained", "memory_p0", func(s *Sample) float64 { return s.Instances[0].GoSys }},
		{"p0_heap_released_bytes", "processor 0: heap memory given back to the OS", "memory_p0", func(s *Sample) float64 { return s.Instances[0].HeapReleased }},
	}
}

// Judged is one series' fit over the judged part of the run.
type Judged struct {
	Series Series
	Fit    Fit
	OK     bool
}

// ProducerStopped is the event that ends the load phase: after it the
// soak only waits for the last windows, so the watermark lag grows by
// design (up to the idle timeout) and the resources fall.
const ProducerStopped = "producer stopped"

// LoadPhase is the samples up to the one that records ProducerStopped
// (all of them when none does).
func LoadPhase(samples []Sample) []Sample {
	for i := range samples {
		if strings.Contains(samples[i].Event, ProducerStopped) {
			return samples[:i]
		}
	}
	return samples
}

// JudgeTail fits every series over the load phase's samples from fraction
// of it on (the soak judges the last two thirds: fraction 1/3), so the
// warm-up (caches filling, the first windows, Redis's keys reaching their
// retention) does not count as growth.
func JudgeTail(samples []Sample, fraction float64) []Judged {
	samples = LoadPhase(samples)
	if len(samples) == 0 {
		return nil
	}
	end := samples[len(samples)-1].Elapsed
	from := end * fraction
	var out []Judged
	for _, se := range AllSeries() {
		var xs, ys []float64
		for i := range samples {
			if samples[i].Elapsed < from {
				continue
			}
			xs = append(xs, samples[i].Elapsed/3600)
			ys = append(ys, se.get(&samples[i]))
		}
		f, ok := FitLine(xs, ys)
		out = append(out, Judged{Series: se, Fit: f, OK: ok})
	}
	return out
}

// Peak is the largest value of a series, when it happened and the last
// fault before it.
type Peak struct {
	Value   float64
	Elapsed float64
	After   string
	// Since is how long after that fault, in seconds.
	Since float64
}

// PeakOf finds the largest value of a series over all samples.
func PeakOf(samples []Sample, get func(*Sample) float64) (Peak, bool) {
	p := Peak{Value: math.Inf(-1)}
	found := false
	last, lastAt := "", 0.0
	for i := range samples {
		if samples[i].Event != "" {
			last, lastAt = samples[i].Event, samples[i].Elapsed
		}
		v := get(&samples[i])
		if math.IsNaN(v) || v <= p.Value {
			continue
		}
		found = true
		p = Peak{Value: v, Elapsed: samples[i].Elapsed, After: last, Since: samples[i].Elapsed - lastAt}
	}
	return p, found
}

// WriteResources writes the resource part of the summary: every series'
// fit over the last two thirds of the load phase, and the largest lags in
// it.
func WriteResources(w io.Writer, samples []Sample) {
	samples = LoadPhase(samples)
	if len(samples) == 0 {
		fmt.Fprintln(w, "no samples")
		return
	}
	span := time.Duration(samples[len(samples)-1].Elapsed * float64(time.Second))
	fmt.Fprintf(w, "resources over the last two thirds of the %s under load (%d samples in all), least-squares slope per hour:\n", span.Round(time.Second), len(samples))
	for _, j := range JudgeTail(samples, 1.0/3) {
		if !j.OK {
			fmt.Fprintf(w, "  %-48s %s\n", j.Series.Label, TooFew)
			continue
		}
		fmt.Fprintf(w, "  %-48s %s\n", j.Series.Label, j.Fit)
	}
	for _, l := range []struct {
		label string
		unit  string
		get   func(*Sample) float64
	}{
		{"largest consumer lag", "records", func(s *Sample) float64 { return maxOf(s.ConsumerLag, s.ConsumerLagMax) }},
		{"largest watermark lag", "s", func(s *Sample) float64 { return maxOf(s.WatermarkLag, s.WatermarkLagMax) }},
	} {
		p, ok := PeakOf(samples, l.get)
		if !ok {
			fmt.Fprintf(w, "%s: no samples\n", l.label)
			continue
		}
		after := "before any fault"
		if p.After != "" {
			after = fmt.Sprintf("%.0f s after %q", p.Since, p.After)
		}
		fmt.Fprintf(w, "%s: %s %s at %s, %s\n", l.label, human(p.Value, false), l.unit,
			time.Duration(p.Elapsed*float64(time.Second)).Round(time.Second), after)
	}
}

// Verdicts counts the series by verdict, for the one-line conclusion.
func Verdicts(j []Judged) map[Verdict][]string {
	out := map[Verdict][]string{}
	for _, x := range j {
		v := TooFew
		if x.OK {
			v = x.Fit.Verdict()
		}
		out[v] = append(out[v], x.Series.Name)
	}
	return out
}

// Conclusion is one line: which resources grew, or that none did.
func Conclusion(j []Judged) string {
	v := Verdicts(j)
	var parts []string
	for _, k := range []Verdict{Growing, Shrinking, TooFew} {
		if len(v[k]) > 0 {
			parts = append(parts, fmt.Sprintf("%s: %s", k, strings.Join(v[k], ", ")))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("all %d resources flat within noise over the last two thirds", len(j))
	}
	return fmt.Sprintf("%d of %d flat; %s", len(v[Flat]), len(j), strings.Join(parts, "; "))
}

// ParseCommandStats reads the calls of each command from INFO
// commandstats ("cmdstat_evalsha:calls=12,usec=..." lines).
func ParseCommandStats(info string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_")
		if !ok {
			continue
		}
		name, fields, _ := strings.Cut(rest, ":")
		for _, f := range strings.Split(fields, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				if n, err := strconv.ParseFloat(v, 64); err == nil {
					out[name] = n
				}
			}
		}
	}
	return out
}

// CommandRates is a summary line: Redis calls per second by command over
// the longest stretch of the load phase with no Redis restart in it (the
// counters start again with Redis), most called first. Commands that
// scripts call (TIME, HMGET, HSET, ...) are counted by Redis too, so the
// EVAL and EVALSHA figures are the scripts a client asked for, and the
// rest mixes top-level calls with calls from inside scripts. Empty when
// no stretch has two samples.
func CommandRates(samples []Sample, calls []map[string]float64) string {
	n := len(LoadPhase(samples))
	best, bestFrom, bestTo := 0.0, -1, -1
	from, prev := -1, -1
	for i := 0; i < n && i < len(calls); i++ {
		if calls[i] == nil {
			continue // Redis did not answer this once; the stretch goes on
		}
		if strings.Contains(samples[i].Event, "redis restart") || prev >= 0 && fell(calls[prev], calls[i]) {
			from, prev = -1, -1
			continue
		}
		prev = i
		if from < 0 {
			from = i
			continue
		}
		if d := samples[i].Elapsed - samples[from].Elapsed; d > best {
			best, bestFrom, bestTo = d, from, i
		}
	}
	if bestFrom < 0 {
		return ""
	}
	type rate struct {
		name string
		r    float64
	}
	var rates []rate
	var total float64
	for name, v := range calls[bestTo] {
		if name == "info" || name == "dbsize" {
			continue
		}
		if d := v - calls[bestFrom][name]; d > 0 {
			rates = append(rates, rate{name, d / best})
			total += d / best
		}
	}
	sort.Slice(rates, func(i, j int) bool { return rates[i].r > rates[j].r })
	parts := make([]string, 0, len(rates))
	for _, r := range rates {
		parts = append(parts, fmt.Sprintf("%s %.1f", r.name, r.r))
	}
	return fmt.Sprintf("Redis calls per second by command, %s to %s under load (no restart between; the soak's own INFO and DBSIZE left out; scripts' inner calls included): %.1f in all: %s",
		time.Duration(samples[bestFrom].Elapsed*float64(time.Second)).Round(time.Second),
		time.Duration(samples[bestTo].Elapsed*float64(time.Second)).Round(time.Second), total, strings.Join(parts, ", "))
}

// fell reports whether any counter went down: Redis started again.
func fell(before, after map[string]float64) bool {
	for k, v := range before {
		if after[k] < v {
			return true
		}
	}
	return false
}

// maxOf is the larger of two values, ignoring a missing one.
func maxOf(a, b float64) float64 {
	switch {
	case math.IsNaN(a):
		return b
	case math.IsNaN(b):
		return a
	}
	return math.Max(a, b)
}
