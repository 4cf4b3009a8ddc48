package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// The end-to-end tests run the built binary against the real broker and
// Redis, feed it a deterministic dataset, and compare the output topic and
// /stats with counts the test computes on its own from the same dataset.

// scenario is one pipeline under test: its topics, group, key prefix and
// processor settings (testenv.E2EProcessor), and the instances started.
type scenario struct {
	t      *testing.T
	env    testenv.Services
	cfg    proc.ProcessorConfig
	window time.Duration
	ooo    time.Duration
}

func newScenario(t *testing.T, partitions int) *scenario {
	return newScenarioOn(t, testenv.Get(t), partitions)
}

// newScenarioOn runs the scenario on the given services (private ones for
// outage tests).
func newScenarioOn(t *testing.T, env testenv.Services, partitions int) *scenario {
	cfg := env.E2EProcessor(t, "e2e", partitions)
	return &scenario{t: t, env: env, cfg: cfg, window: cfg.Window, ooo: cfg.MaxOutOfOrderness}
}

// start starts one more instance of the pipeline.
func (s *scenario) start(name string) *proc.Service {
	s.t.Helper()
	return proc.StartProcessor(s.t, name, s.cfg)
}

// stop sends SIGTERM and requires a clean exit 0 within 30 s (a closer
// lease holder hands the lease over first, in about 12 s).
func stop(t *testing.T, p *proc.Service) {
	t.Helper()
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Tail(30))
	}
}

// produce writes records to their partitions, in order, acks=all.
func (s *scenario) produce(ctx context.Context, recs []contracttest.Record) {
	s.t.Helper()
	w := s.writer()
	defer w.Close()
	if err := writeRecords(ctx, w, recs); err != nil {
		s.t.Fatalf("produce: %v", err)
	}
}

// writer writes to the input topic, each record to the partition its
// header names (writeRecords), acks=all.
func (s *scenario) writer() *kafka.Writer {
	return &kafka.Writer{
		Addr: kafka.TCP(s.env.Brokers...), Topic: s.cfg.Input, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			n, _ := strconv.Atoi(string(m.Headers[0].Value))
			return n
		}),
		BatchSize: 5000, BatchTimeout: 2 * time.Millisecond, MaxAttempts: 10,
	}
}

// writeRecords writes records with w (a writer()) to their partitions.
func writeRecords(ctx context.Context, w *kafka.Writer, recs []contracttest.Record) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: []byte(r.Key), Value: r.Value, Headers: []kafka.Header{{Key: "p", Value: []byte(strconv.Itoa(r.Partition))}}}
		if r.RecordTime != 0 {
			msgs[i].Time = time.UnixMilli(r.RecordTime)
		}
	}
	return w.WriteMessages(ctx, msgs...)
}

// readAll reads a whole topic from the start up to its current end.
func readAll(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	out, err := tryReadAll(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryReadAll is readAll returning its error.
func tryReadAll(brokers []string, topic string) ([]kafka.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafka.Message
	err := contracttest.ReadAll(ctx, brokers, topic, func(m kafka.Message) { out = append(out, m) })
	return out, err
}

// waitOutput waits until every expected (window, type) record is on the
// output topic, then checks the topic: each key once per value, byte-exact
// against the expectation, nothing unexpected.
func (s *scenario) waitOutput(want map[contracttest.Key]int64) {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		// A read that fails (a broker slow to answer on a loaded machine:
		// seen in CI as a ListOffsets i/o timeout) is tried again until
		// the deadline; the check below reads once more, and fails then.
		msgs, err := tryReadAll(s.env.Brokers, s.cfg.Output)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("read the output topic: %v", err)
			}
			t.Logf("read the output topic (trying again): %v", err)
			time.Sleep(500 * time.Millisecond)
			continue
		}
		keys := map[string]bool{}
		for _, m := range msgs {
			keys[string(m.Key)] = true
		}
		if len(keys) >= len(want) {
			s.checkOutput(msgs, want)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 120 s only %d of %d window records are on the output topic", len(keys), len(want))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (s *scenario) checkOutput(msgs []kafka.Message, want map[contracttest.Key]int64) {
	t := s.t
	t.Helper()
	records := make([]contracttest.OutputRecord, len(msgs))
	for i, m := range msgs {
		records[i] = contracttest.OutputRecord{Key: m.Key, Value: m.Value, Offset: m.Offset, Time: m.Time.UnixMilli()}
	}
	rep := contracttest.CompareOutput(want, records, s.window)
	if !rep.OK() {
		t.Errorf("output topic against the oracle:\n%s", strings.Join(rep.Describe(20), "\n"))
	}
	t.Logf("output: %d records, %d expected keys, %d byte-identical repeats", rep.Records, rep.Expected, rep.Duplicates)
}

// checkDeadLetters requires every bad record, and nothing else, in the
// dead-letter topic with the contract's headers.
func (s *scenario) checkDeadLetters(data [][]contracttest.Record) {
	t := s.t
	t.Helper()
	wantBad := map[string][]byte{}
	wantError := map[string]string{}
	for _, part := range data {
		for _, r := range part {
			if r.Bad {
				wantBad[r.Key] = r.Value
				wantError[r.Key] = r.WantError
			}
		}
	}
	got := map[string]bool{}
	for _, m := range readAll(t, s.env.Brokers, s.cfg.DeadLetter) {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		v, ok := wantBad[string(m.Key)]
		if !ok {
			t.Errorf("dead letter %s %q was a good record", m.Key, m.Value)
			continue
		}
		if !bytes.Equal(v, m.Value) || h["error"] == "" || h["source-topic"] != s.cfg.Input || h["source-partition"] == "" || h["source-offset"] == "" {
			t.Errorf("dead letter %s: value %q headers %v", m.Key, m.Value, h)
		}
		if want := wantError[string(m.Key)]; !strings.Contains(h["error"], want) {
			t.Errorf("dead letter %s: error %q, want it to contain %q", m.Key, h["error"], want)
		}
		got[string(m.Key)] = true
	}
	if len(got) != len(wantBad) {
		t.Errorf("%d of %d bad records reached the dead-letter topic", len(got), len(wantBad))
	}
}

// checkStats compares /stats with the expectation for the newest windows.
func (s *scenario) checkStats(addr string, want map[contracttest.Key]int64) {
	t := s.t
	t.Helper()
	totals := map[int64]map[string]int64{}
	for k, n := range want {
		if totals[k.Start] == nil {
			totals[k.Start] = map[string]int64{}
		}
		totals[k.Start][k.Type.String()] = n
	}
	resp, err := http.Get("http://" + addr + "/stats?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Windows []struct {
			Start  time.Time        `json:"start"`
			Closed bool             `json:"closed"`
			Counts map[string]int64 `json:"counts"`
			Total  int64            `json:"total"`
		} `json:"windows"`
	}
	if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Windows) != min(len(totals), 1000) {
		t.Errorf("/stats lists %d windows, want %d", len(st.Windows), len(totals))
	}
	for _, w := range st.Windows {
		exp := totals[w.Start.UnixMilli()]
		if !w.Closed || fmt.Sprint(exp) != fmt.Sprint(w.Counts) {
			t.Errorf("/stats window %s closed=%v counts %v, want closed %v", w.Start, w.Closed, w.Counts, exp)
		}
	}
}

// waitStatsClosed waits until /stats lists every window of want as closed
// (at most 90 s), then checks it with checkStats.
func (s *scenario) waitStatsClosed(addr string, want map[contracttest.Key]int64) {
	s.t.Helper()
	starts := map[int64]bool{}
	for k := range want {
		starts[k.Start] = true
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var st struct {
			Windows []struct {
				Start  time.Time `json:"start"`
				Closed bool      `json:"closed"`
			} `json:"windows"`
		}
		if err := json.Unmarshal([]byte(get(s.t, "http://"+addr+"/stats?limit=1000")), &st); err == nil {
			closed := 0
			for _, w := range st.Windows {
				if w.Closed && starts[w.Start.UnixMilli()] {
					closed++
				}
			}
			if closed == len(starts) {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.checkStats(addr, want)
}

// checkMetrics requires the late and dead-letter counters of one instance to
// equal the expectation.
func (s *scenario) checkMetrics(addr string, late, bad int) {
	s.t.Helper()
	metrics := get(s.t, "http://"+addr+"/metrics")
	if line := "stats_processor_late_events_total " + itoa(late); !strings.Contains(metrics, line+"\n") {
		s.t.Errorf("metrics lack %q", line)
	}
	// Dead letters are counted by reason: their sum.
	dead := 0.0
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "stats_processor_dead_letters_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			dead += v
		}
	}
	if dead != float64(bad) {
		s.t.Errorf("stats_processor_dead_letters_total adds up to %v over its reasons, want %d", dead, bad)
	}
}
