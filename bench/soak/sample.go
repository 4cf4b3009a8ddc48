package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Instances is how many stats-processor instances the soak runs; instance
// 0 is by default never killed (-victims), so that one process lives
// through the whole run.
const Instances = 3

// InstanceSample is what one sample records about one processor instance
// (NaN where it did not answer: killed, restarting).
type InstanceSample struct {
	RSS        float64 // process_resident_memory_bytes
	Heap       float64 // go_memstats_heap_alloc_bytes
	Goroutines float64 // go_goroutines
	OpenFDs    float64 // process_open_fds
	CPU        float64 // process_cpu_seconds_total
	Partitions float64 // stats_processor_assigned_partitions
	// GoSys is what the Go runtime obtained from the OS
	// (go_memstats_sys_bytes) and HeapReleased what of it the heap gave
	// back (go_memstats_heap_released_bytes): with RSS and Heap they tell
	// live data from memory the runtime keeps.
	GoSys, HeapReleased float64
}

// Sample is one row of the soak's CSV file.
type Sample struct {
	Time time.Time
	// Elapsed is the time since the soak started, in seconds.
	Elapsed   float64
	Instances [Instances]InstanceSample
	// RedisMemory is INFO's used_memory, RedisKeys DBSIZE.
	RedisMemory, RedisKeys float64
	// RedisCommands is INFO's total_commands_processed (it restarts from
	// zero with Redis); RedisOpsPerSec its rise per second since the
	// previous sample.
	RedisCommands, RedisOpsPerSec float64
	// ConsumerLag is the input's end offsets minus the offsets saved in
	// Redis, summed over partitions: records not yet counted for good,
	// whoever owns them (a killed instance's partitions included).
	ConsumerLag float64
	// WatermarkLag is wall-clock time minus the pipeline watermark of
	// /stats, in seconds.
	WatermarkLag float64
	// ConsumerLagMax and WatermarkLagMax are the largest lags seen by a
	// poll every second since the previous sample: a fault's lag spike is
	// often shorter than the sampling interval. The watermark lag polled is
	// processor 0's stats_processor_watermark_lag_seconds (it never dies
	// and costs Redis nothing to read).
	ConsumerLagMax, WatermarkLagMax float64
	// Produced is the producer's count of acknowledged events.
	Produced float64
	// Event names a fault injected since the previous sample, if any.
	Event string
}

// column is one CSV column: its name and where its value lives.
type column struct {
	name string
	get  func(*Sample) *float64
}

// columns lists the numeric columns in file order (after time, before
// event).
func columns() []column {
	cols := []column{{"elapsed_s", func(s *Sample) *float64 { return &s.Elapsed }}}
	for i := range Instances {
		p := fmt.Sprintf("p%d_", i)
		cols = append(cols,
			column{p + "rss_bytes", func(s *Sample) *float64 { return &s.Instances[i].RSS }},
			column{p + "heap_bytes", func(s *Sample) *float64 { return &s.Instances[i].Heap }},
			column{p + "goroutines", func(s *Sample) *float64 { return &s.Instances[i].Goroutines }},
			column{p + "open_fds", func(s *Sample) *float64 { return &s.Instances[i].OpenFDs }},
			column{p + "cpu_s", func(s *Sample) *float64 { return &s.Instances[i].CPU }},
			column{p + "partitions", func(s *Sample) *float64 { return &s.Instances[i].Partitions }},
			column{p + "go_sys_bytes", func(s *Sample) *float64 { return &s.Instances[i].GoSys }},
			column{p + "heap_released_bytes", func(s *Sample) *float64 { return &s.Instances[i].HeapReleased }},
		)
	}
	return append(cols,
		column{"redis_used_memory_bytes", func(s *Sample) *float64 { return &s.RedisMemory }},
		column{"redis_keys", func(s *Sample) *float64 { return &s.RedisKeys }},
		column{"redis_commands_total", func(s *Sample) *float64 { return &s.RedisCommands }},
		column{"redis_ops_per_s", func(s *Sample) *float64 { return &s.RedisOpsPerSec }},
		column{"consumer_lag_records", func(s *Sample) *float64 { return &s.ConsumerLag }},
		column{"watermark_lag_s", func(s *Sample) *float64 { return &s.WatermarkLag }},
		column{"consumer_lag_max_records", func(s *Sample) *float64 { return &s.ConsumerLagMax }},
		column{"watermark_lag_max_s", func(s *Sample) *float64 { return &s.WatermarkLagMax }},
		column{"produced_events", func(s *Sample) *float64 { return &s.Produced }},
	)
}

// OpsPerSecond is the rise of total_commands_processed per second from
// prev to cur; NaN when either is missing or Redis restarted in between
// (the counter fell).
func OpsPerSecond(prev, cur Sample) float64 {
	d, dt := cur.RedisCommands-prev.RedisCommands, cur.Elapsed-prev.Elapsed
	if math.IsNaN(d) || d < 0 || dt <= 0 {
		return math.NaN()
	}
	return d / dt
}

// NewSample is a sample at t with every value missing.
func NewSample(t time.Time, elapsed time.Duration) Sample {
	s := Sample{Time: t}
	for _, c := range columns() {
		*c.get(&s) = math.NaN()
	}
	s.Elapsed = elapsed.Seconds()
	return s
}

// CSVWriter writes samples as CSV, one flushed row per sample, so that a
// soak cut short keeps what it measured.
type CSVWriter struct {
	w *csv.Writer
}

// NewCSVWriter writes the header to w.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	cw := &CSVWriter{w: csv.NewWriter(w)}
	header := []string{"time"}
	for _, c := range columns() {
		header = append(header, c.name)
	}
	header = append(header, "event")
	if err := cw.w.Write(header); err != nil {
		return nil, fmt.Errorf("write csv header: %w", err)
	}
	cw.w.Flush()
	return cw, cw.w.Error()
}

// Write writes one sample; a missing value is an empty cell.
func (cw *CSVWriter) Write(s Sample) error {
	row := []string{s.Time.UTC().Format(time.RFC3339Nano)}
	for _, c := range columns() {
		v := *c.get(&s)
		if math.IsNaN(v) {
			row = append(row, "")
		} else {
			row = append(row, strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	row = append(row, s.Event)
	if err := cw.w.Write(row); err != nil {
		return fmt.Errorf("write csv row: %w", err)
	}
	cw.w.Flush()
	return cw.w.Error()
}

// ReadCSV reads what CSVWriter wrote (soak -analyze redraws a run from
// it). A column of the soak's that the file lacks (it was written by an
// earlier version) reads as missing values; a column the soak does not
// know, or a cell that is not a number, is an error.
func ReadCSV(r io.Reader) ([]Sample, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	if len(header) < 2 || header[0] != "time" || header[len(header)-1] != "event" {
		return nil, fmt.Errorf("csv header %q is not the soak's", strings.Join(header, ","))
	}
	known := map[string]column{}
	for _, c := range columns() {
		known[c.name] = c
	}
	cols := make([]column, len(header)-2)
	for i, name := range header[1 : len(header)-1] {
		c, ok := known[name]
		if !ok {
			return nil, fmt.Errorf("csv column %d, %q, is not the soak's", i+2, name)
		}
		cols[i] = c
	}
	var out []Sample
	for line := 2; ; line++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read csv line %d: %w", line, err)
		}
		t, err := time.Parse(time.RFC3339Nano, row[0])
		if err != nil {
			return nil, fmt.Errorf("csv line %d: time: %w", line, err)
		}
		s := NewSample(t, 0)
		s.Event = row[len(row)-1]
		for i, c := range cols {
			cell := row[i+1]
			if cell == "" {
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				return nil, fmt.Errorf("csv line %d, %s: %w", line, c.name, err)
			}
			*c.get(&s) = v
		}
		out = append(out, s)
	}
}

// ParseMetrics sums the Prometheus text-format samples of r by metric name
// (labels dropped: consumer_lag{partition="3"} adds to consumer_lag).
// Comment lines and lines it cannot read are skipped.
func ParseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			continue
		}
		name := line[:end]
		rest := line[end:]
		if rest[0] == '{' {
			close := strings.LastIndexByte(rest, '}')
			if close < 0 {
				continue
			}
			rest = rest[close+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}
