package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// run is n samples 10 s apart, each filled in by fill.
func run(n int, fill func(i int, s *Sample)) []Sample {
	t0 := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	var out []Sample
	for i := range n {
		s := NewSample(t0.Add(time.Duration(i)*10*time.Second), time.Duration(i)*10*time.Second)
		fill(i, &s)
		out = append(out, s)
	}
	return out
}

func steady(i int, s *Sample) {
	for k := range Instances {
		s.Instances[k] = InstanceSample{RSS: 40e6 + float64(i%3)*1e6, Heap: 10e6 + float64(i%5)*1e6, Goroutines: 50, OpenFDs: 30, CPU: float64(i)}
	}
	s.RedisMemory, s.RedisKeys, s.ConsumerLag, s.WatermarkLag = 2e6+float64(i%4)*1e4, 100, float64(i%7)*100, 5+float64(i%2)
	s.RedisOpsPerSec = 120 + float64(i%3)
}

func TestJudgeTailSteadyRunIsFlat(t *testing.T) {
	j := JudgeTail(run(180, steady), 1.0/3)
	if len(j) != len(AllSeries()) {
		t.Fatalf("%d judged, want %d", len(j), len(AllSeries()))
	}
	if c := Conclusion(j); !strings.HasPrefix(c, "all 17 resources flat") {
		t.Errorf("conclusion %q", c)
	}
}

func TestJudgeTailIgnoresWarmUpButCatchesALeak(t *testing.T) {
	samples := run(180, func(i int, s *Sample) {
		steady(i, s)
		if i < 60 { // warm-up: Redis keys filling, then steady
			s.RedisKeys = float64(i) * 10 / 6
		}
		s.Instances[0].Goroutines = 50 + float64(i)/6 // one goroutine a minute, never freed
	})
	c := Conclusion(JudgeTail(samples, 1.0/3))
	if !strings.Contains(c, "growing: p0_goroutines") || strings.Contains(c, "redis_keys") {
		t.Errorf("conclusion %q: want p0_goroutines growing and Redis keys (warm-up only) flat", c)
	}
}

func TestJudgeTailMissingValues(t *testing.T) {
	samples := run(30, func(i int, s *Sample) {
		steady(i, s)
		if i > 2 {
			s.Instances[1] = InstanceSample{RSS: math.NaN(), Heap: math.NaN(), Goroutines: math.NaN(), OpenFDs: math.NaN(), CPU: math.NaN()}
		}
	})
	v := Verdicts(JudgeTail(samples, 1.0/3))
	if len(v[TooFew]) != 4 {
		t.Errorf("too few: %v, want processor 1's four series", v[TooFew])
	}
}

func TestPeakOfNamesTheFaultBefore(t *testing.T) {
	samples := run(20, func(i int, s *Sample) {
		s.ConsumerLag = 100
		switch i {
		case 5:
			s.Event = "SIGKILL soak-p1"
		case 8:
			s.ConsumerLag = 9000
		case 12:
			s.Event = "redis restart (1.1 s down)"
		case 13:
			s.ConsumerLag = math.NaN()
		}
	})
	p, ok := PeakOf(samples, func(s *Sample) float64 { return s.ConsumerLag })
	if !ok || p.Value != 9000 || p.Elapsed != 80 || p.After != "SIGKILL soak-p1" || p.Since != 30 {
		t.Errorf("peak %+v", p)
	}
	if _, ok := PeakOf(run(3, func(int, *Sample) {}), func(s *Sample) float64 { return s.ConsumerLag }); ok {
		t.Error("a peak of nothing")
	}
	var buf bytes.Buffer
	WriteResources(&buf, samples)
	if !strings.Contains(buf.String(), `largest consumer lag: 9000 records at 1m20s, 30 s after "SIGKILL soak-p1"`) {
		t.Errorf("summary:\n%s", buf.String())
	}
}

func TestCPUSecondsAcrossRestarts(t *testing.T) {
	cpu := []float64{1, 2, 3, math.NaN(), 0.5, 1.5, math.NaN(), 4}
	samples := run(len(cpu), func(i int, s *Sample) { s.Instances[1].CPU = cpu[i] })
	// lives: 1,2,3 (ends at 3); 0.5,1.5 then 4 in the same life (no drop)
	if got := cpuSeconds(samples, 1); got != 7 {
		t.Errorf("cpu %v, want 3 + 4", got)
	}
}

func TestJudgeTailStopsAtTheProducerStop(t *testing.T) {
	samples := run(200, func(i int, s *Sample) {
		steady(i, s)
		switch {
		case i == 180:
			s.Event = "SIGKILL soak-p2; " + ProducerStopped
		case i > 180:
			s.WatermarkLag = float64(i-180) * 10 // the drain: idle timeout runs
		}
	})
	if c := Conclusion(JudgeTail(samples, 1.0/3)); !strings.HasPrefix(c, "all 17 resources flat") {
		t.Errorf("conclusion %q: the drain counted", c)
	}
	var buf bytes.Buffer
	WriteResources(&buf, samples)
	if !strings.Contains(buf.String(), "largest watermark lag: 6 s") || !strings.Contains(buf.String(), "of the 29m50s under load (180 samples") {
		t.Errorf("summary:\n%s", buf.String())
	}
}

func TestParseCommandStats(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_evalsha:calls=2923,usec=212068,usec_per_call=72.55,rejected_calls=1,failed_calls=3\r\ncmdstat_time:calls=15125,usec=8058\r\nused_memory:12\r\n"
	got := ParseCommandStats(info)
	if len(got) != 2 || got["evalsha"] != 2923 || got["time"] != 15125 {
		t.Errorf("%v", got)
	}
}

func TestCommandRatesTakesTheLongestStretchWithoutARestart(t *testing.T) {
	samples := run(12, func(i int, s *Sample) {
		switch i {
		case 4:
			s.Event = "redis restart (1.2 s down)"
		case 11:
			s.Event = ProducerStopped
		}
	})
	calls := make([]map[string]float64, 12)
	for i := range calls {
		k := float64(i)
		if i >= 4 {
			k = float64(i - 4) // counters start again with Redis
		}
		calls[i] = map[string]float64{"eval": 100 * k, "evalsha": 10 * k, "info": 5 * k}
	}
	calls[7] = nil // Redis did not answer: the stretch 5..10 still counts from 5
	line := CommandRates(samples, calls)
	// samples 5..10 (50 s): eval 500 calls, evalsha 50: 10 and 1 per second
	if !strings.Contains(line, "50s to 1m40s") || !strings.Contains(line, "11.0 in all: eval 10.0, evalsha 1.0") || strings.Contains(line, "info") {
		t.Errorf("line %q", line)
	}
	if CommandRates(samples[:1], calls[:1]) != "" {
		t.Error("a rate from one sample")
	}
}
