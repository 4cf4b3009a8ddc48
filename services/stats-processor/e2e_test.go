package main_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// base is the event time the datasets start at: an hour ago, so that when
// every partition is idle at the end the wall-clock watermark closes all
// windows.
func base() int64 { return time.Now().Add(-time.Hour).UnixMilli() }

// TestE2EExactCounts: one instance over a preloaded 6-partition topic with
// out-of-order, late and bad records. The output topic and /stats must equal
// the independently computed counts; every bad record is dead-lettered.
func TestE2EExactCounts(t *testing.T) {
	s := newScenario(t, 6)
	data := contracttest.Dataset(1, 6, 3000, base(), s.ooo)
	want, late, bad := contracttest.ExpectedRecords(data, s.window, s.ooo)
	t.Logf("dataset: %d windows x types, %d late, %d bad", len(want), late, bad)
	ctx := context.Background()
	for _, c := range contracttest.Interleave(data, 1000) {
		s.produce(ctx, c)
	}
	p := s.start("solo")
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(p.Addr, want)
	s.checkMetrics(p.Addr, late, bad)
	checkOperationsMetrics(t, p.Addr, 6)
	if code := status(t, "http://"+p.Addr+"/stats?limit=0"); code != http.StatusBadRequest {
		t.Errorf("/stats?limit=0 = %d, want 400", code)
	}
	stop(t, p)
}

// TestE2EKillNine: the processor is killed with SIGKILL several times while
// data flows, and restarted; counts stay exact.
func TestE2EKillNine(t *testing.T) {
	stop(t, killNine(newScenario(t, 4)))
}

// TestE2EKillNineSharedFetch is TestE2EKillNine with every partition read
// through the shared fetches (kafka.fetch_shared_above 0, as an instance
// owning many partitions reads them): counts stay exact, and the shared
// fetches did the reading.
func TestE2EKillNineSharedFetch(t *testing.T) {
	s := newScenario(t, 4)
	s.cfg.Extra = append(s.cfg.Extra, "PROCESSOR_KAFKA_FETCH_SHARED_ABOVE=0")
	p := killNine(s)
	metrics := get(t, "http://"+p.Addr+"/metrics")
	if !regexp.MustCompile(`(?m)^stats_processor_shared_fetches_total [1-9]`).MatchString(metrics) {
		t.Errorf("stats_processor_shared_fetches_total is not above 0: the partitions were not read through the shared fetches")
	}
	stop(t, p)
}

// killNine produces s's dataset while killing the processor with SIGKILL
// three times and starting it again, checks that the output is exact, and
// returns the last processor, running.
func killNine(s *scenario) *proc.Service {
	t := s.t
	data := contracttest.Dataset(2, 4, 4000, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	chunks := contracttest.Interleave(data, 100)
	ctx := context.Background()
	s.produce(ctx, chunks[0])
	p := s.start("k0")
	rng := rand.New(rand.NewPCG(3, 3))
	kills := 0
	for i, c := range chunks[1:] {
		s.produce(ctx, c)
		time.Sleep(100 * time.Millisecond)
		if i%10 == 9 && kills < 3 {
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
			p.Kill()
			kills++
			t.Logf("killed the processor with SIGKILL (%d)", kills)
			p = s.start("k" + itoa(kills))
		}
	}
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(p.Addr, want)
	return p
}

// TestE2EKillNineLeaseHolder: two instances at kafka.session_timeout 6s,
// the broker's minimum; the one holding the closer lease is killed with
// SIGKILL while data flows, and not restarted. The survivor takes over its
// partitions and the lease; counts stay exact. (bench/failover measures how
// long the output stalls meanwhile.)
func TestE2EKillNineLeaseHolder(t *testing.T) {
	s := newScenario(t, 4)
	s.cfg.SessionTimeout = 6 * time.Second
	data := contracttest.Dataset(4, 4, 3000, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	chunks := contracttest.Interleave(data, 100)
	ctx := context.Background()
	s.produce(ctx, chunks[0])
	procs := map[string]*proc.Service{"a": s.start("a"), "b": s.start("b")}
	rdb := redis.NewClient(&redis.Options{Addr: s.env.RedisAddr})
	defer rdb.Close()
	lease := state.NewKeys(s.cfg.KeyPrefix, s.cfg.Input).Closer()
	holder := func() string { // the lease's value is "<token>:<instance id>"
		v, _ := rdb.Get(ctx, lease).Result()
		_, id, _ := strings.Cut(v, ":")
		return id
	}
	killed := ""
	for i, c := range chunks[1:] {
		s.produce(ctx, c)
		time.Sleep(100 * time.Millisecond)
		if h := holder(); killed == "" && i >= 10 && procs[h] != nil {
			procs[h].Kill()
			killed = h
			t.Logf("killed %s, the closer lease holder, with SIGKILL", h)
		}
	}
	if killed == "" {
		t.Fatalf("neither instance held the closer lease %s while the data flowed", lease)
	}
	survivor := map[string]string{"a": "b", "b": "a"}[killed]
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(procs[survivor].Addr, want)
	if h := holder(); h != survivor {
		t.Errorf("the closer lease is held by %q after the kill, want the survivor %q", h, survivor)
	}
	stop(t, procs[survivor])
}

// TestE2ERebalance: three instances share the group; one is stopped and
// started again, another killed, while data flows.
func TestE2ERebalance(t *testing.T) {
	s := newScenario(t, 6)
	data := contracttest.Dataset(3, 6, 3000, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	chunks := contracttest.Interleave(data, 75)
	ctx := context.Background()
	s.produce(ctx, chunks[0])
	a, b, c := s.start("a"), s.start("b"), s.start("c")
	for i, ch := range chunks[1:] {
		s.produce(ctx, ch)
		time.Sleep(100 * time.Millisecond)
		switch i {
		case 8:
			stop(t, b)
			t.Log("stopped b (SIGTERM)")
		case 16:
			b = s.start("b2")
			t.Log("started b2")
		case 26:
			c.Kill()
			t.Log("killed c (SIGKILL)")
		}
	}
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(a.Addr, want)
	s.checkStats(b.Addr, want)
	stop(t, a)
	stop(t, b)
}

func itoa(n int) string { return strconv.Itoa(n) }

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checkOperationsMetrics requires the figures docs/operations.md reads of a
// sole instance that closed windows over partitions partitions: the output
// writes and Redis commands timed, the pool's connections, each partition's
// watermark and idle flag, and the build.
func checkOperationsMetrics(t *testing.T, addr string, partitions int) {
	t.Helper()
	body := get(t, "http://"+addr+"/metrics")
	sum := map[string]float64{}
	series := map[string]int{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum[name] += v
		series[name]++
	}
	for _, name := range []string{"stats_processor_output_write_duration_seconds_count", "stats_processor_redis_command_duration_seconds_count",
		"stats_processor_redis_pool_connections", "stats_processor_redis_pool_hits_total"} {
		if sum[name] < 1 {
			t.Errorf("%s adds up to %v, want some", name, sum[name])
		}
	}
	for _, name := range []string{"stats_processor_partition_watermark_timestamp_seconds", "stats_processor_partition_idle"} {
		if series[name] != partitions {
			t.Errorf("%s has %d series, want one per partition (%d)", name, series[name], partitions)
		}
	}
	if !strings.Contains(body, `stats_processor_build_info{commit="`) || !strings.Contains(body, `version="test"} 1`) {
		t.Errorf("no stats_processor_build_info with version \"test\" (the test build's)")
	}
}
