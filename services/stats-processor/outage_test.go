package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// TestE2EOutages stops Redis and then Kafka (private instances of this test)
// while data flows: the processor reports not ready naming the dependency,
// keeps running, and resumes without loss; counts stay exact.
func TestE2EOutages(t *testing.T) {
	testenv.Get(t)
	k, r := private.StartKafka(t), private.StartRedis(t)
	s := newScenarioOn(t, testenv.Services{Brokers: []string{k.Addr}, RedisAddr: r.Addr}, 3)
	data := contracttest.Dataset(4, 3, 2500, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	chunks := contracttest.Interleave(data, 100)
	ctx := context.Background()
	s.produce(ctx, chunks[0])
	p := s.start("o")
	waitReady(t, p.Addr, "", 60*time.Second)
	for i, c := range chunks[1:] {
		s.produce(ctx, c)
		time.Sleep(100 * time.Millisecond)
		switch i {
		case 5:
			outage(t, p.Addr, "redis", r, 60*time.Second)
		case 12:
			outage(t, p.Addr, "kafka", k, 90*time.Second)
		}
	}
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(p.Addr, want)
	stop(t, p)
	// Every line it logged through both outages is structured, the Redis
	// library's own complaints included.
	library := 0
	for _, line := range strings.Split(p.Tail(1<<20), "\n") {
		if line != "" && !strings.HasPrefix(line, "time=") {
			t.Errorf("unstructured log line: %q", line)
		}
		if strings.Contains(line, `msg="redis client"`) {
			library++
		}
	}
	t.Logf("log: every line structured, %d of them the Redis library's", library)
}

// outage stops a dependency for 3 s: /readyz must name it meanwhile and be
// ready again within recover once it is back.
func outage(t *testing.T, addr, name string, dep *private.Server, recover time.Duration) {
	t.Helper()
	dep.Stop(t)
	waitReady(t, addr, name, 30*time.Second)
	t.Logf("%s stopped: /readyz names it", name)
	time.Sleep(3 * time.Second)
	dep.Start(t)
	waitReady(t, addr, "", recover)
	t.Logf("%s back: ready again", name)
}

// waitReady waits until /readyz is 200 (failing == "") or 503 naming
// failing.
func waitReady(t *testing.T, addr, failing string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			var body struct {
				Failing map[string]string `json:"failing"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if failing == "" && resp.StatusCode == 200 {
				return
			}
			if failing != "" && resp.StatusCode == 503 && body.Failing[failing] != "" {
				return
			}
			last = resp.Status
			for k, v := range body.Failing {
				last += " " + k + "=" + v
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("/readyz did not become %q within %s (last: %s)", map[bool]string{true: "ready", false: "503 " + failing}[failing == ""], timeout, last)
}

// TestE2ERedisCluster runs the processor on a three-master Redis Cluster,
// killed with SIGKILL once mid-stream: the state layout (one slot per
// partition, single-key scripts) works there too, and counts stay exact.
func TestE2ERedisCluster(t *testing.T) {
	env := testenv.Get(t)
	env.RedisAddr = strings.Join(private.StartRedisCluster(t, 0).Addrs, ",")
	s := newScenarioOn(t, env, 4)
	s.cfg.Extra = append(s.cfg.Extra, "PROCESSOR_REDIS_CLUSTER=true")
	data := contracttest.Dataset(5, 4, 2000, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	chunks := contracttest.Interleave(data, 100)
	ctx := context.Background()
	s.produce(ctx, chunks[0])
	p := s.start("rc0")
	for i, c := range chunks[1:] {
		s.produce(ctx, c)
		time.Sleep(100 * time.Millisecond)
		if i == 8 {
			p.Kill()
			p = s.start("rc1")
		}
	}
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(p.Addr, want)
	stop(t, p)
}

// TestE2ERedisClusterFailover runs three instances on a Redis Cluster with a
// replica per master; mid-stream the master holding the pipeline's own keys
// (closed bound, closed windows, lease) is killed with SIGKILL and its
// replica, which may lag it, takes over: Redis goes back in time for those
// keys while the partitions' hashes on the other masters do not. Counts stay
// exact and no key is written with two values.
func TestE2ERedisClusterFailover(t *testing.T) {
	env := testenv.Get(t)
	cluster := private.StartRedisCluster(t, 1)
	env.RedisAddr = strings.Join(cluster.Addrs, ",")
	s := newScenarioOn(t, env, 4)
	s.cfg.Extra = append(s.cfg.Extra, "PROCESSOR_REDIS_CLUSTER=true")
	data := contracttest.Dataset(6, 4, 3000, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	chunks := contracttest.Interleave(data, 100)
	ctx := context.Background()
	s.produce(ctx, chunks[0])
	procs := []*proc.Service{s.start("f0"), s.start("f1"), s.start("f2")}
	for i, c := range chunks[1:] {
		s.produce(ctx, c)
		time.Sleep(100 * time.Millisecond)
		if i == 10 {
			killed := cluster.KillMasterOf(t, s.cfg.KeyPrefix+":{"+s.cfg.Input+"}:meta")
			t.Logf("killed the Redis master %s of the pipeline's keys; a replica took over", killed)
		}
	}
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(procs[0].Addr, want)
	for _, p := range procs {
		stop(t, p)
	}
}

// TestE2EKafkaSASL runs the processor against a broker listener that
// requires SASL/PLAIN (kafka.sasl.*): counts are exact; wrong credentials
// stop start-up at once with a message naming the setting.
func TestE2EKafkaSASL(t *testing.T) {
	testenv.Get(t)
	k := private.StartKafkaSASL(t)
	env := testenv.Get(t)
	env.Brokers = []string{k.Addr} // the test itself uses the plaintext listener
	s := newScenarioOn(t, env, 3)
	s.cfg.Extra = append(s.cfg.Extra, "PROCESSOR_KAFKA_BROKERS="+k.SASLAddr, "PROCESSOR_KAFKA_SASL_MECHANISM=plain",
		"PROCESSOR_KAFKA_SASL_ALLOW_PLAINTEXT_PASSWORD=true", // the test broker's SASL listener has no TLS
		"PROCESSOR_KAFKA_SASL_USERNAME="+k.SASLUser, "PROCESSOR_KAFKA_SASL_PASSWORD="+k.SASLPassword)
	data := contracttest.Dataset(6, 3, 1500, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	for _, c := range contracttest.Interleave(data, 500) {
		s.produce(context.Background(), c)
	}
	p := s.start("sasl")
	s.waitOutput(want)
	s.checkDeadLetters(data)
	stop(t, p)

	out := startFails(t, "wrong-password", proc.ProcessorConfig{Brokers: []string{k.SASLAddr}, RedisAddr: env.RedisAddr,
		Extra: []string{"PROCESSOR_KAFKA_SASL_MECHANISM=plain", "PROCESSOR_KAFKA_SASL_ALLOW_PLAINTEXT_PASSWORD=true", "PROCESSOR_KAFKA_SASL_USERNAME=" + k.SASLUser, "PROCESSOR_KAFKA_SASL_PASSWORD=wrong"}})
	if !strings.Contains(out, "kafka.sasl.password") {
		t.Errorf("wrong password: want a failed start naming kafka.sasl.password:\n%s", out)
	}
}
