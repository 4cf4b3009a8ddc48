package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCSVRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	a := NewSample(t0, 0)
	a.Instances[0].RSS, a.Instances[2].Goroutines, a.RedisKeys, a.WatermarkLag = 41e6, 57, 12, 5.25
	b := NewSample(t0.Add(10*time.Second), 10*time.Second)
	b.Instances[1].Heap, b.ConsumerLag, b.Event = 9.5e6, 1234, "SIGKILL soak-p1; redis restart (1.2 s down)"
	var buf bytes.Buffer
	w, err := NewCSVWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Sample{a, b} {
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d samples, want 2", len(got))
	}
	for i, want := range []Sample{a, b} {
		if !got[i].Time.Equal(want.Time) || got[i].Event != want.Event {
			t.Errorf("sample %d: time %v event %q, want %v %q", i, got[i].Time, got[i].Event, want.Time, want.Event)
		}
		for _, c := range columns() {
			g, w := *c.get(&got[i]), *c.get(&want)
			if !(g == w || math.IsNaN(g) && math.IsNaN(w)) {
				t.Errorf("sample %d %s: %v, want %v", i, c.name, g, w)
			}
		}
	}
	if !math.IsNaN(got[1].Instances[0].RSS) {
		t.Errorf("missing value read back as %v, want NaN", got[1].Instances[0].RSS)
	}
}

func TestReadCSVRefusesOtherFiles(t *testing.T) {
	for name, text := range map[string]string{
		"other header": "a,b,c\n1,2,3\n",
		"not a number": header() + "\n2026-12-01T18:00:00Z," + strings.Repeat("x,", len(columns())) + "\n",
		"bad time":     header() + "\nyesterday," + strings.Repeat(",", len(columns())) + "\n",
		"short row":    header() + "\n2026-12-01T18:00:00Z,1\n",
		"empty":        "",
	} {
		if _, err := ReadCSV(strings.NewReader(text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestReadCSVOfAnEarlierVersion(t *testing.T) {
	text := "time,elapsed_s,redis_keys,event\n2026-12-01T18:00:00Z,10,42,SIGKILL soak-p1\n"
	got, err := ReadCSV(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Elapsed != 10 || got[0].RedisKeys != 42 || got[0].Event != "SIGKILL soak-p1" || !math.IsNaN(got[0].WatermarkLagMax) {
		t.Errorf("%+v", got)
	}
}

func header() string {
	var buf bytes.Buffer
	if _, err := NewCSVWriter(&buf); err != nil {
		panic(err)
	}
	return strings.TrimSpace(buf.String())
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 48
process_resident_memory_bytes 4.1943040e+07
stats_processor_consumer_lag{partition="0"} 12
stats_processor_consumer_lag{partition="3"} 30
stats_processor_events_total{type="CAR",x="a b"} 5
broken_line{unterminated 3
no_value
`
	m, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"go_goroutines": 48, "process_resident_memory_bytes": 41943040, "stats_processor_consumer_lag": 42, "stats_processor_events_total": 5}
	if len(m) != len(want) {
		t.Errorf("got %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestOpsPerSecond(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	a, b := NewSample(t0, 0), NewSample(t0.Add(10*time.Second), 10*time.Second)
	a.RedisCommands, b.RedisCommands = 1000, 3500
	if got := OpsPerSecond(a, b); got != 250 {
		t.Errorf("%v, want 250", got)
	}
	b.RedisCommands = 40 // Redis restarted: the counter began again
	if got := OpsPerSecond(a, b); !math.IsNaN(got) {
		t.Errorf("%v across a restart, want NaN", got)
	}
	b.RedisCommands = math.NaN()
	if got := OpsPerSecond(a, b); !math.IsNaN(got) {
		t.Errorf("%v with a missing value, want NaN", got)
	}
}
