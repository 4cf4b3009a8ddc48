package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde/serdetest"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/generator"
)

// The tests here run the built binary, as a user or a container would: its
// configuration comes from PRODUCER_* variables, its results are read back
// from the topic and its log. The log is shown when a test fails, or always
// with VS_SHOW_PRODUCER_LOG=1.

// producer is a running producer.
type producer struct {
	*proc.Service
	addr string
}

// start runs the binary with configs/vehicle-producer.yaml and cfg over it
// (retries backing off at most 500 ms unless cfg says), through the
// launcher every test and tool uses, without waiting for /readyz (some
// tests meet a Kafka that is down, some a run that ends).
func start(t *testing.T, cfg proc.ProducerConfig) *producer {
	t.Helper()
	cfg.ConfigFile = filepath.Join(testenv.RepoRoot(t), "configs", "vehicle-producer.yaml")
	if cfg.RetryBackoffMax == 0 {
		cfg.RetryBackoffMax = 500 * time.Millisecond
	}
	s := proc.ExecProducerT(t, cfg)
	if os.Getenv("VS_SHOW_PRODUCER_LOG") != "" {
		t.Cleanup(func() { t.Logf("producer log:\n%s", s.Tail(1<<30)) })
	}
	return &producer{Service: s, addr: s.Addr}
}

func (p *producer) logText() string { return p.Tail(1 << 30) }

// wait waits for the process to exit and returns its exit code.
func (p *producer) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(limit):
		t.Fatalf("the producer did not exit within %v", limit)
	}
	var ee *exec.ExitError
	switch err := p.Err(); {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("wait: %v", err)
		return -1
	}
}

// logLine returns the fields of the last log line with this message.
func (p *producer) logLine(t *testing.T, msg string) map[string]any {
	t.Helper()
	var found map[string]any
	for _, line := range strings.Split(p.logText(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			found = m
		}
	}
	if found == nil {
		t.Fatalf("no log line %q", msg)
	}
	return found
}

func (p *producer) get(path string) (int, []byte, error) {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

type status struct {
	Rate      float64 `json:"rate"`
	Seed      uint64  `json:"seed"`
	Generated uint64  `json:"generated"`
	Sent      uint64  `json:"sent"`
	Kafka     string  `json:"kafka"`
}

func (p *producer) status(t *testing.T) status {
	t.Helper()
	st, err := p.tryStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tryStatus is status for polling: the server may not listen yet.
func (p *producer) tryStatus() (status, error) {
	var st status
	code, body, err := p.get("/status")
	if err != nil || code != http.StatusOK {
		return st, fmt.Errorf("GET /status = %d %s %v", code, body, err)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("/status %s: %w", body, err)
	}
	return st, nil
}

// sentAtLeast is a waitFor condition.
func (p *producer) sentAtLeast(n uint64) func() bool {
	return func() bool {
		st, err := p.tryStatus()
		return err == nil && st.Sent >= n
	}
}

// waitFor polls cond every 50 ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readAll reads every record of the topic, partition by partition.
func readAll(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for _, p := range parts {
		lc, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		end, err := lc.ReadLastOffset()
		lc.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		for off := int64(0); off < end; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read partition %d at %d of %d: %v", p.ID, off, end, err)
			}
			out = append(out, m)
		}
		r.Close()
	}
	return out
}

// expectedStickers are the sticker ids of the first n events of seed, in
// order: the generator is deterministic, so they name every event the
// producer made.
func expectedStickers(t *testing.T, seed uint64, n int) []string {
	t.Helper()
	g, err := generator.New(generator.DefaultConfig(), seed)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, n)
	var e generator.Event
	for i := range out {
		g.Next(time.Now(), &e)
		out[i] = string(e.Sticker())
	}
	return out
}

// decodeAll checks every record against the contract and its key, and
// counts the records per sticker.
func decodeAll(t *testing.T, msgs []kafka.Message) map[string]int {
	t.Helper()
	seen := make(map[string]int, len(msgs))
	for _, m := range msgs {
		v, err := serdetest.DecodeVehicle(m.Value)
		if err != nil {
			t.Fatalf("record %s at %d/%d: %v", m.Value, m.Partition, m.Offset, err)
		}
		if string(m.Key) != v.PlateNumber {
			t.Fatalf("record %s has key %q", m.Value, m.Key)
		}
		seen[v.VignetteStickerID]++
	}
	return seen
}

func deleteTopic(t *testing.T, brokers []string, topic string) {
	t.Cleanup(func() {
		c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
		_, _ = c.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	})
}

// TestIntegrationCountPutsExactlyNRecords: count=N puts exactly the N
// events of the seed in a topic the producer creates, each a valid contract
// record keyed by its plate, and exits 0.
func TestIntegrationCountPutsExactlyNRecords(t *testing.T) {
	env := testenv.Get(t)
	t.Parallel()
	const n, seed = 3000, 4242
	topic := testenv.UniqueName("producer-count")
	deleteTopic(t, env.Brokers, topic)
	p := start(t, proc.ProducerConfig{
		Brokers: env.Brokers, Topic: topic, Compression: "lz4", Count: n, Unpaced: true, Seed: seed,
	})
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	final := p.logLine(t, "stopped")
	if final["generated"] != float64(n) || final["sent"] != float64(n) || final["unacknowledged"] != 0.0 {
		t.Errorf("final log line %v", final)
	}

	msgs := readAll(t, env.Brokers, topic)
	if len(msgs) != n {
		t.Fatalf("%d records in the topic, want exactly %d", len(msgs), n)
	}
	seen := decodeAll(t, msgs)
	for i, s := range expectedStickers(t, seed, n) {
		if seen[s] != 1 {
			t.Fatalf("event %d (sticker %s) is in the topic %d times", i+1, s, seen[s])
		}
	}
	parts := map[int]bool{}
	for _, m := range msgs {
		parts[m.Partition] = true
	}
	if len(parts) != 6 {
		t.Errorf("records on %d partitions, want the default 6", len(parts))
	}
}

// TestIntegrationSIGTERMFlushes stops a producer running at 2000 events/s
// with SIGTERM: it exits 0, and every event its final log line counts as
// generated is in the topic. On the way it checks the HTTP endpoints of the
// running binary.
func TestIntegrationSIGTERMFlushes(t *testing.T) {
	env := testenv.Get(t)
	t.Parallel()
	const seed = 777
	topic := testenv.UniqueName("producer-sigterm")
	deleteTopic(t, env.Brokers, topic)
	p := start(t, proc.ProducerConfig{Brokers: env.Brokers, Topic: topic, Rate: 1000, Seed: seed})
	waitFor(t, 30*time.Second, "/readyz to answer 200", func() bool {
		code, _, err := p.get("/readyz")
		return err == nil && code == http.StatusOK
	})
	if st := p.status(t); st.Seed != seed || st.Rate != 1000 || st.Kafka != "ok" {
		t.Errorf("/status %+v", st)
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+p.addr+"/rate", strings.NewReader(`{"rate": 2000}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /rate: %v %v", resp, err)
	}
	waitFor(t, 30*time.Second, "1000 events acknowledged", p.sentAtLeast(1000))
	if code, body, _ := p.get("/metrics"); code != 200 || !bytes.Contains(body, []byte(`vehicle_producer_events_sent_total{type="CAR"}`)) ||
		!bytes.Contains(body, []byte("vehicle_producer_rate_events_per_second 2000")) {
		t.Errorf("/metrics = %d\n%s", code, body)
	}

	if err := syscall.Kill(p.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 45*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	final := p.logLine(t, "stopped")
	generated, ok := final["generated"].(float64)
	if !ok || generated < 1000 || final["sent"] != generated || final["unacknowledged"] != 0.0 {
		t.Fatalf("final log line %v", final)
	}
	msgs := readAll(t, env.Brokers, topic)
	seen := decodeAll(t, msgs)
	for i, s := range expectedStickers(t, seed, int(generated)) {
		if seen[s] == 0 {
			t.Fatalf("event %d of %v generated (sticker %s) is not in the topic", i+1, generated, s)
		}
	}
	if len(msgs) != int(generated) {
		t.Errorf("%d records for %v generated events", len(msgs), generated)
	}
}

// TestIntegrationKafkaRestartLosesNothing stops the producer's own broker
// mid-run and starts it again: meanwhile /healthz answers and /readyz says
// what is wrong; afterwards the producer finishes its count by itself, and
// every generated event is in the topic (at least once).
func TestIntegrationKafkaRestartLosesNothing(t *testing.T) {
	testenv.Get(t) // skip where integration tests do not run
	t.Parallel()
	begin := time.Now()
	step := func(what string) { t.Logf("+%5.1fs %s", time.Since(begin).Seconds(), what) }
	k := private.StartKafka(t)
	step("private Kafka started")
	const n, seed = 4000, 31337
	topic := "vehicles-restart"
	p := start(t, proc.ProducerConfig{Brokers: []string{k.Addr}, Topic: topic, Rate: 400, Count: n, Seed: seed})
	waitFor(t, 30*time.Second, "500 events acknowledged", p.sentAtLeast(500))

	step("500 events acknowledged")
	k.Stop(t)
	step("Kafka stopped")
	waitFor(t, 20*time.Second, "/readyz to report kafka", func() bool {
		code, body, err := p.get("/readyz")
		return err == nil && code == http.StatusServiceUnavailable && bytes.Contains(body, []byte(`"kafka"`))
	})
	if code, _, err := p.get("/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz while Kafka is down = %d, %v", code, err)
	}
	before := p.status(t)
	time.Sleep(time.Second)
	if st := p.status(t); st.Sent != before.Sent || st.Kafka == "ok" {
		t.Errorf("while Kafka is down: sent %d -> %d, kafka %q", before.Sent, st.Sent, st.Kafka)
	}
	k.Start(t)
	step("Kafka started again")

	if code := p.wait(t, 90*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	step("producer exited")
	final := p.logLine(t, "stopped")
	if final["generated"] != float64(n) || final["sent"].(float64) < n {
		t.Errorf("final log line %v", final)
	}
	msgs := readAll(t, []string{k.Addr}, topic)
	seen := decodeAll(t, msgs)
	if len(msgs) < n {
		t.Fatalf("%d records in the topic, want at least %d", len(msgs), n)
	}
	dups := 0
	for i, s := range expectedStickers(t, seed, n) {
		if seen[s] == 0 {
			t.Fatalf("event %d (sticker %s) was lost", i+1, s)
		}
		dups += seen[s] - 1
	}
	t.Logf("%d records for %d events: %d duplicates from retries after lost acknowledgements", len(msgs), n, dups)
}
