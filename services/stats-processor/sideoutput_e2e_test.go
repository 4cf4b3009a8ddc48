package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Side outputs that cannot stall (issue 22): bulk and oversized bad input,
// and a flood of late events, against the broker's default
// max.message.bytes (1 MiB) on the dead-letter and late topics. Each test
// checks exact counts against the oracle, every bad record on the
// dead-letter topic (cut to fit, with the truncated and original-size
// headers, only when it had to be), every late event on the late topic,
// and that /readyz stays 200.

// badValue is an invalid record (unknown vehicle type) of exactly size
// bytes.
func badValue(key string, size int) []byte {
	v := fmt.Sprintf(`{"plateNumber":%q,"vignetteStickerId":"5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11","timestamp":"2026-11-21T23:45:05.123Z","vehicleType":"SPACESHIP","pad":""}`, key)
	if pad := size - len(v); pad > 0 {
		v = v[:len(v)-2] + strings.Repeat("x", pad) + `"}`
	}
	return []byte(v)
}

// insertBad puts n bad records of size bytes into partition p at index at.
func insertBad(data [][]contracttest.Record, p, at, n, size int, prefix string) {
	bad := make([]contracttest.Record, n)
	for i := range bad {
		key := fmt.Sprintf("%s-%05d", prefix, i)
		bad[i] = contracttest.Record{Partition: p, Key: key, Value: badValue(key, size), Bad: true}
	}
	data[p] = slices.Insert(data[p], at, bad...)
}

// produceBytes writes records to their partitions in order, acks=all, in
// batches of up to batchBytes (for records over kafka-go's default 1 MiB).
func (s *scenario) produceBytes(ctx context.Context, recs []contracttest.Record, batchBytes int64) {
	s.t.Helper()
	w := &kafka.Writer{
		Addr: kafka.TCP(s.env.Brokers...), Topic: s.cfg.Input, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			n, _ := strconv.Atoi(string(m.Headers[0].Value))
			return n
		}),
		BatchSize: 5000, BatchBytes: batchBytes, BatchTimeout: 2 * time.Millisecond, MaxAttempts: 10,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: []byte(r.Key), Value: r.Value, Headers: []kafka.Header{{Key: "p", Value: []byte(strconv.Itoa(r.Partition))}}}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		s.t.Fatalf("produce: %v", err)
	}
}

// setTopicConfig sets one configuration of a topic (IncrementalAlterConfigs).
func setTopicConfig(t *testing.T, brokers []string, topic, name, value string) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := c.IncrementalAlterConfigs(context.Background(), &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: name, Value: value, ConfigOperation: kafka.ConfigOperationSet}}}},
	})
	if err == nil && len(resp.Resources) == 1 {
		err = resp.Resources[0].Error
	}
	if err != nil {
		t.Fatalf("set %s=%s on %s: %v", name, value, topic, err)
	}
}

// distinctKeys waits until topic holds at least want distinct keys, and
// returns its records and how long that took.
func (s *scenario) distinctKeys(topic string, want int, timeout time.Duration) ([]kafka.Message, time.Duration) {
	s.t.Helper()
	start := time.Now()
	for {
		msgs := readAll(s.t, s.env.Brokers, topic)
		keys := map[string]bool{}
		for _, m := range msgs {
			keys[string(m.Key)] = true
		}
		if len(keys) >= want {
			return msgs, time.Since(start)
		}
		if time.Since(start) > timeout {
			s.t.Fatalf("after %s only %d of %d distinct keys (%d records) are on %s", timeout, len(keys), want, len(msgs), topic)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkSideDeadLetters requires every bad record, and nothing else, on the
// dead-letter topic with the contract's headers; a record whose value is
// over 1,000,000 bytes (more than the topic's default limit of 1 MiB takes
// with its headers) cut to fit with truncated = true and original-size, and
// no other record cut. It returns how many were cut.
func (s *scenario) checkSideDeadLetters(data [][]contracttest.Record, msgs []kafka.Message) (truncated int) {
	t := s.t
	t.Helper()
	want := map[string]contracttest.Record{}
	for _, part := range data {
		for _, r := range part {
			if r.Bad {
				want[r.Key] = r
			}
		}
	}
	got := map[string]bool{}
	for _, m := range msgs {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		r, ok := want[string(m.Key)]
		if !ok {
			t.Errorf("dead letter %s was a good record", m.Key)
			continue
		}
		if h["error"] == "" || h["source-topic"] != s.cfg.Input || h["source-partition"] != strconv.Itoa(r.Partition) || h["source-offset"] == "" {
			t.Errorf("dead letter %s: headers %v", m.Key, h)
		}
		mustCut := len(r.Value) > 1_000_000
		switch {
		case h["truncated"] == "true":
			if !got[r.Key] {
				truncated++
				t.Logf("dead letter %s cut from %d to %d bytes (original-size %s)", m.Key, len(r.Value), len(m.Value), h["original-size"])
			}
			if !mustCut || h["original-size"] != strconv.Itoa(len(r.Value)) || len(m.Value) >= len(r.Value) || !bytes.HasPrefix(r.Value, m.Value) {
				t.Errorf("dead letter %s cut to %d bytes (headers truncated=%q original-size=%q) from %d bytes",
					m.Key, len(m.Value), h["truncated"], h["original-size"], len(r.Value))
			}
			if len(m.Value) < 1_000_000 {
				t.Errorf("dead letter %s cut to %d bytes: more than needed below 1 MiB", m.Key, len(m.Value))
			}
		case mustCut:
			t.Errorf("dead letter %s of %d bytes is on the topic with %d bytes and not cut", m.Key, len(r.Value), len(m.Value))
		case !bytes.Equal(r.Value, m.Value) || h["original-size"] != "":
			t.Errorf("dead letter %s: value of %d bytes, want the original %d bytes; headers %v", m.Key, len(m.Value), len(r.Value), h)
		}
		got[r.Key] = true
	}
	if len(got) != len(want) {
		t.Errorf("%d of %d bad records reached the dead-letter topic", len(got), len(want))
	}
	t.Logf("dead-letter topic: %d records, %d distinct bad records, %d cut to fit", len(msgs), len(got), truncated)
	return truncated
}

// readyz returns /readyz's status and its failing checks.
func readyz(t *testing.T, addr string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Failing map[string]string `json:"failing"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Failing
}

// checkSideHealthy requires /readyz 200 and no partition stuck, and the
// truncation counters to be as given.
func (s *scenario) checkSideHealthy(addr string, deadCut, lateCut int) {
	t := s.t
	t.Helper()
	if code, failing := readyz(t, addr); code != http.StatusOK {
		t.Errorf("/readyz %d: %v", code, failing)
	}
	m := get(t, "http://"+addr+"/metrics")
	for _, line := range []string{
		"stats_processor_dead_letters_truncated_total " + itoa(deadCut) + "\n",
		"stats_processor_late_events_truncated_total " + itoa(lateCut) + "\n",
	} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %q", strings.TrimSpace(line))
		}
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "stats_processor_side_output_stuck{") && !strings.HasSuffix(line, " 0") {
			t.Errorf("metrics: %s", line)
		}
	}
}

// TestE2EBulkInvalidRecords: 20,000 consecutive invalid records of 170
// bytes on one partition (3.4 MB, over three times the dead-letter topic's
// 1 MiB limit), valid events around them on every partition, half of the
// input written before the processor starts and half while it runs. Before
// issue 22 the processor wrote them as one batch of thousands of records,
// which the broker refused for good (MESSAGE_TOO_LARGE): no window closed
// after it.
func TestE2EBulkInvalidRecords(t *testing.T) {
	s := newScenario(t, 3)
	data := contracttest.Dataset(31, 3, 2000, base(), s.ooo)
	insertBad(data, 1, 1000, 20_000, 170, "BULK")
	want, late, bad := contracttest.ExpectedRecords(data, s.window, s.ooo)
	t.Logf("dataset: %d windows x types, %d late, %d bad (20,000 of them in a row on partition 1)", len(want), late, bad)
	ctx := context.Background()
	chunks := contracttest.Interleave(data, 500)
	for _, c := range chunks[:len(chunks)/2] {
		s.produce(ctx, c)
	}
	start := time.Now()
	p := s.start("bulk")
	for _, c := range chunks[len(chunks)/2:] {
		s.produce(ctx, c)
		time.Sleep(100 * time.Millisecond)
	}
	s.checkBadInput(p, start, data, want, late, bad, 0)
	s.checkStats(p.Addr, want)
	stop(t, p)
}

// checkBadInput waits until every bad record of data is on the dead-letter
// topic and every window record of want on the output topic (timed from
// start), then checks the dead letters (wantCut of them cut to fit), the
// late and dead-letter metrics and that no partition's side output is
// stuck.
func (s *scenario) checkBadInput(p *proc.Service, start time.Time, data [][]contracttest.Record, want map[contracttest.Key]int64, late, bad, wantCut int) {
	t := s.t
	t.Helper()
	dead, _ := s.distinctKeys(s.cfg.DeadLetter, bad, 120*time.Second)
	t.Logf("all %d bad records on the dead-letter topic %s after the processor started", bad, time.Since(start).Round(time.Millisecond))
	s.waitOutput(want)
	t.Logf("every window record on the output topic %s after the processor started", time.Since(start).Round(time.Millisecond))
	if n := s.checkSideDeadLetters(data, dead); n != wantCut {
		t.Errorf("%d dead letters cut, want %d", n, wantCut)
	}
	s.checkMetrics(p.Addr, late, bad)
	s.checkSideHealthy(p.Addr, wantCut, 0)
}

// TestE2ETwoLargeInvalidRecords: two invalid records of 600 kB next to each
// other on one partition: each fits the dead-letter topic, both together do
// not, so they must go in two requests, uncut.
func TestE2ETwoLargeInvalidRecords(t *testing.T) {
	s := newScenario(t, 3)
	data := contracttest.Dataset(32, 3, 1500, base(), s.ooo)
	insertBad(data, 2, 700, 2, 600_000, "LARGE")
	want, late, bad := contracttest.ExpectedRecords(data, s.window, s.ooo)
	t.Logf("dataset: %d windows x types, %d late, %d bad (two of 600 kB)", len(want), late, bad)
	ctx := context.Background()
	for _, c := range contracttest.Interleave(data, 500) {
		s.produce(ctx, c)
	}
	start := time.Now()
	p := s.start("large")
	s.checkBadInput(p, start, data, want, late, bad, 0)
	stop(t, p)
}

// TestE2EHugeInvalidRecord: one invalid record of 1,100,000 bytes, which
// the input topic takes (its max.message.bytes raised to 2 MiB) but the
// dead-letter topic, at the broker's default of 1 MiB, cannot: it is
// written cut to fit, with truncated = true and original-size = 1100000,
// and counted in dead_letters_total and dead_letters_truncated_total.
func TestE2EHugeInvalidRecord(t *testing.T) {
	s := newScenario(t, 3)
	setTopicConfig(t, s.env.Brokers, s.cfg.Input, "max.message.bytes", strconv.Itoa(2<<20))
	data := contracttest.Dataset(33, 3, 1500, base(), s.ooo)
	insertBad(data, 0, 600, 1, 1_100_000, "HUGE")
	want, late, bad := contracttest.ExpectedRecords(data, s.window, s.ooo)
	t.Logf("dataset: %d windows x types, %d late, %d bad (one of 1,100,000 bytes)", len(want), late, bad)
	ctx := context.Background()
	for _, c := range contracttest.Interleave(data, 500) {
		s.produceBytes(ctx, c, 2<<20)
	}
	start := time.Now()
	p := s.start("huge")
	s.checkBadInput(p, start, data, want, late, bad, 1)
	stop(t, p)
}

// TestE2ELateFlood: 50,000 late events in a row on one partition (about
// 8 MB on the late topic, whose limit is 1 MiB), read between two saves:
// checkpoints every 10 s and side_pending_max_bytes at 32 MiB, so one save
// writes them all. Every late event must be on the late topic, uncut.
func TestE2ELateFlood(t *testing.T) {
	s := newScenario(t, 3)
	s.cfg.CheckpointInterval = 10 * time.Second
	s.cfg.Extra = append(s.cfg.Extra, "PROCESSOR_KAFKA_SIDE_PENDING_MAX_BYTES="+strconv.Itoa(32<<20))
	data := contracttest.Dataset(34, 3, 1500, base(), s.ooo)
	at := 800
	var top int64
	for _, r := range data[0][:at] {
		if !r.Bad {
			top = max(top, r.EventTime)
		}
	}
	flood := make([]contracttest.Record, 50_000)
	for i := range flood {
		key := fmt.Sprintf("LATE-%05d", i)
		et := top - 60_000 - int64(i%20_000) // windows that ended well before the partition's watermark
		flood[i] = contracttest.Record{Partition: 0, Key: key, EventTime: et, Type: model.Car,
			Value: fmt.Appendf(nil, `{"plateNumber":%q,"vignetteStickerId":"s-late-%d","timestamp":%d,"vehicleType":"CAR"}`, key, i, et)}
	}
	data[0] = slices.Insert(data[0], at, flood...)
	want, late, bad := contracttest.ExpectedRecords(data, s.window, s.ooo)
	t.Logf("dataset: %d windows x types, %d late (50,000 in a row on partition 0), %d bad", len(want), late, bad)
	ctx := context.Background()
	for _, c := range contracttest.Interleave(data, 500) {
		s.produce(ctx, c)
	}
	start := time.Now()
	p := s.start("lateflood")
	lateMsgs, _ := s.distinctKeys(s.cfg.Late, late, 120*time.Second)
	t.Logf("all %d late events on the late topic (%d records) %s after the processor started", late, len(lateMsgs), time.Since(start).Round(time.Millisecond))
	s.waitOutput(want)
	values := map[string][]byte{}
	for _, part := range data {
		for _, r := range part {
			values[r.Key] = r.Value
		}
	}
	seen := map[string]bool{}
	for _, m := range lateMsgs {
		if v, ok := values[string(m.Key)]; !ok || !bytes.Equal(v, m.Value) || len(m.Headers) != 0 {
			t.Errorf("late record %s: %d bytes, headers %v; not an input event unchanged", m.Key, len(m.Value), m.Headers)
		}
		seen[string(m.Key)] = true
	}
	for i := range flood {
		if !seen[flood[i].Key] {
			t.Errorf("late event %s missing from the late topic", flood[i].Key)
			break
		}
	}
	s.checkDeadLetters(data)
	s.checkMetrics(p.Addr, late, bad)
	s.checkSideHealthy(p.Addr, 0, 0)
	stop(t, p)
}

// TestE2ESideOutputStuck: the dead-letter topic is deleted under a running
// processor, so its dead letters cannot be written: after three failed
// attempts /readyz answers 503 naming the partition under side_outputs,
// side_output_stuck is 1 for it and an error is logged; once the topic is
// back, every bad record is written, the partition's counts are exact and
// the report clears.
func TestE2ESideOutputStuck(t *testing.T) {
	s := newScenario(t, 2)
	data := contracttest.Dataset(35, 2, 1200, base(), s.ooo)
	want, late, bad := contracttest.ExpectedRecords(data, s.window, s.ooo)
	chunks := contracttest.Interleave(data, 400)
	ctx := context.Background()
	s.produce(ctx, chunks[0])
	p := s.start("stuck")
	s.distinctKeys(s.cfg.DeadLetter, countBad(chunks[0]), 60*time.Second)
	if err := testenv.DeleteTopics(ctx, s.env.Brokers, s.cfg.DeadLetter); err != nil {
		t.Fatal(err)
	}
	t.Log("deleted the dead-letter topic")
	for _, c := range chunks[1:] {
		s.produce(ctx, c)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, failing := readyz(t, p.Addr)
		if code == http.StatusServiceUnavailable && failing["side_outputs"] != "" {
			msg := failing["side_outputs"]
			t.Logf("/readyz 503: side_outputs: %s", msg)
			if !strings.Contains(msg, s.cfg.Input+"/") || !strings.Contains(msg, "failed attempts") {
				t.Errorf("/readyz side_outputs does not name the partition and the attempts: %s", msg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not report side_outputs within 90 s (last %d %v)\n%s", code, failing, p.Tail(20))
		}
		time.Sleep(300 * time.Millisecond)
	}
	stuck := 0
	for _, line := range strings.Split(get(t, "http://"+p.Addr+"/metrics"), "\n") {
		if strings.HasPrefix(line, "stats_processor_side_output_stuck{") && strings.HasSuffix(line, " 1") {
			stuck++
		}
	}
	if stuck == 0 {
		t.Error("side_output_stuck is not 1 for any partition")
	}
	if log := p.Tail(300); !strings.Contains(log, "partition stuck") || !strings.Contains(log, "level=ERROR") {
		t.Errorf("no error logged naming the stuck partition:\n%s", p.Tail(20))
	}
	if err := testenv.CreateTopic(ctx, s.env.Brokers, s.cfg.DeadLetter, 1); err != nil {
		t.Fatal(err)
	}
	t.Log("created the dead-letter topic again")
	// Every bad record written after the deletion is on the new topic.
	later := 0
	for _, c := range chunks[1:] {
		later += countBad(c)
	}
	msgs, took := s.distinctKeys(s.cfg.DeadLetter, later, 120*time.Second)
	t.Logf("%d records on the new dead-letter topic %s after it was created", len(msgs), took.Round(time.Millisecond))
	onTopic := map[string]bool{}
	for _, m := range msgs {
		onTopic[string(m.Key)] = true
	}
	for _, c := range chunks[1:] {
		for _, r := range c {
			if r.Bad && !onTopic[r.Key] {
				t.Errorf("bad record %s is not on the dead-letter topic", r.Key)
			}
		}
	}
	s.waitOutput(want)
	deadline = time.Now().Add(30 * time.Second)
	for code, failing := readyz(t, p.Addr); code != http.StatusOK; code, failing = readyz(t, p.Addr) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz %d %v after the topic came back", code, failing)
		}
		time.Sleep(300 * time.Millisecond)
	}
	s.checkSideHealthy(p.Addr, 0, 0)
	t.Logf("dataset: %d late, %d bad", late, bad)
	stop(t, p)
}

// countBad counts the bad records among recs.
func countBad(recs []contracttest.Record) int {
	n := 0
	for _, r := range recs {
		if r.Bad {
			n++
		}
	}
	return n
}
