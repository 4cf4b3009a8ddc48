package prometheus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// TestIntegrationAlertsFire runs the alert rules for real: Debian's
// Prometheus on a free loopback port, evaluating alerts.yml every second
// over a stats-processor started by the test (the local Kafka, a private
// Redis). Stopping Redis makes StatsProcessorRedisErrors go pending, then
// fire; the input topic, recreated meanwhile, makes
// StatsProcessorOffsetBeyondLogEnd fire once Redis is back (the saved
// offsets are read from it); and StatsProcessorRedisErrors resolves. Each
// step has a deadline; the whole takes about three minutes.
func TestIntegrationAlertsFire(t *testing.T) {
	env := testenv.Get(t)
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed (make test installs it; Debian: apt-get install prometheus)")
	}
	redis := private.StartRedis(t)
	const partitions = 2
	cfg := proc.ProcessorConfig{
		Brokers: env.Brokers, RedisAddr: redis.Addr, KeyPrefix: testenv.UniqueName("alerts"),
		Input:      env.Topic(t, "alerts-in", partitions),
		Output:     env.Topic(t, "alerts-out", 1),
		DeadLetter: env.Topic(t, "alerts-dead", 1),
		Late:       env.Topic(t, "alerts-late", 1),
		Group:      testenv.UniqueName("alerts-group"),
		Earliest:   true, CheckpointInterval: 200 * time.Millisecond, SessionTimeout: 6 * time.Second,
	}
	ctx := context.Background()
	const events = 20
	produce(ctx, t, env.Brokers, cfg.Input, events)
	processor := proc.StartProcessor(t, "alerts", cfg)
	// Every partition saved an offset past its events (its watermark
	// series appears with the first save that counted one).
	waitFor(t, "the events counted and saved", 90*time.Second, func() (bool, string) {
		m := scrape(t, "http://"+processor.Addr+"/metrics")
		return m["stats_processor_events_total"] == events && m["stats_processor_partition_watermark_timestamp_seconds#series"] == partitions,
			fmt.Sprintf("metrics %v", m)
	})

	prom := startPrometheus(t, promBin, processor.Addr)
	waitFor(t, "Prometheus scraping the processor", 60*time.Second, func() (bool, string) {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Health string `json:"health"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		getJSON(t, prom+"/api/v1/targets", &r)
		return len(r.Data.ActiveTargets) == 1 && r.Data.ActiveTargets[0].Health == "up", fmt.Sprintf("targets %+v", r.Data.ActiveTargets)
	})
	if got := alerts(t, prom); len(got) != 0 {
		t.Fatalf("alerts before any fault: %v", got)
	}

	redis.Stop(t)
	t.Log("Redis stopped")
	waitForAlert(t, prom, "StatsProcessorRedisErrors", "pending", 60*time.Second)
	t.Logf("/readyz with Redis down: %s", readyz(t, processor.Addr))

	// The input topic, deleted and created again while Redis is down: empty,
	// so every saved offset is beyond its log end.
	if err := testenv.DeleteTopics(ctx, env.Brokers, cfg.Input); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the input topic created again", 60*time.Second, func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := testenv.CreateTopic(cctx, env.Brokers, cfg.Input, partitions)
		return err == nil, fmt.Sprint(err)
	})
	t.Log("input topic recreated")

	waitForAlert(t, prom, "StatsProcessorRedisErrors", "firing", 100*time.Second)
	redis.Start(t)
	t.Log("Redis started again")
	waitForAlert(t, prom, "StatsProcessorOffsetBeyondLogEnd", "firing", 90*time.Second)
	t.Logf("/readyz with the topic recreated: %s", readyz(t, processor.Addr))
	waitForAlert(t, prom, "StatsProcessorRedisErrors", "", 120*time.Second)
	if !strings.Contains(readyz(t, processor.Addr), "reset") {
		t.Errorf("/readyz does not point at stats-processor reset: %s", readyz(t, processor.Addr))
	}
}

// produce writes n valid events, spread over the topic's partitions.
func produce(ctx context.Context, t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.RoundRobin{}, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	now := time.Now().UTC()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		plate := fmt.Sprintf("CA%04dAB", i)
		msgs[i] = kafka.Message{Key: []byte(plate), Value: fmt.Appendf(nil,
			`{"plateNumber":%q,"vignetteStickerId":"x","timestamp":%q,"vehicleType":"CAR"}`, plate, now.Format(time.RFC3339Nano))}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// startPrometheus runs Debian's Prometheus with alerts.yml, scraping and
// evaluating every second, on a free loopback port, and returns its base
// URL once it is ready. It is killed when the test ends.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: [alerts.yml]
scrape_configs:
  - job_name: stats-processor
    static_configs: [{targets: [%q]}]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.Port(t))
	p, err := proc.StartProcess("prometheus", bin, proc.Launch{Args: []string{
		"--config.file=" + filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- log of prometheus (last 20 lines)\n%s", p.Tail(20))
		}
	})
	base := "http://" + addr
	waitFor(t, "Prometheus ready", 30*time.Second, func() (bool, string) {
		select {
		case <-p.Done():
			t.Fatalf("prometheus exited: %v\n%s", p.Err(), p.Tail(20))
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return base
}

// alerts returns the state of each active alert by name: "pending" or
// "firing" ("firing" when any of its series fires).
func alerts(t *testing.T, prom string) map[string]string {
	t.Helper()
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	getJSON(t, prom+"/api/v1/alerts", &r)
	states := map[string]string{}
	for _, a := range r.Data.Alerts {
		if states[a.Labels["alertname"]] != "firing" {
			states[a.Labels["alertname"]] = a.State
		}
	}
	return states
}

// waitForAlert waits until the alert is in state, "" for not active
// (resolved).
func waitForAlert(t *testing.T, prom, name, state string, limit time.Duration) {
	t.Helper()
	start := time.Now()
	waitFor(t, fmt.Sprintf("%s %q", name, state), limit, func() (bool, string) {
		got := alerts(t, prom)
		return got[name] == state, fmt.Sprintf("active alerts %v", got)
	})
	t.Logf("%s is %q after %s", name, state, time.Since(start).Round(time.Second))
}

// waitFor polls cond every second until it holds, or fails the test after
// limit with what cond last said.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; %s", what, limit, last)
		}
		time.Sleep(time.Second)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func readyz(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(b)
}

// scrape sums each metric's samples; "<name>#series" counts its series.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		var v float64
		f := strings.Fields(line)
		fmt.Sscan(f[len(f)-1], &v)
		m[name] += v
		m[name+"#series"]++
	}
	return m
}
