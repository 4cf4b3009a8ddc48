package main_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// TestE2ESlowKafkaLink: two processors reach Kafka through a network fault
// proxy (Toxiproxy) that delays every answer by 3.5–4.5 s for half a minute
// while data flows: a closing round (output offsets, the write, the end
// offsets) then outlasts the 5 s closer lease, and the lease moves between
// the instances while rounds are still in flight. No key may get two
// values, and once the link is fast again the counts are exact.
func TestE2ESlowKafkaLink(t *testing.T) {
	env := testenv.Get(t)
	k := private.StartKafkaProxied(t)
	s := newScenarioOn(t, testenv.Services{Brokers: []string{k.Addr}, RedisAddr: env.RedisAddr}, 3)

	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	proxy := toxiproxy.NewProxy(srv, "kafka", k.ProxyAddr, k.Upstream)
	if err := proxy.Start(); err != nil {
		t.Fatalf("start the proxy: %v", err)
	}
	defer proxy.Stop()
	s.cfg.Brokers = []string{k.ProxyAddr} // the processors' every Kafka connection goes through it

	data := contracttest.Dataset(31, 3, 1500, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	chunks := contracttest.Interleave(data, 100)
	ctx := context.Background()
	half := len(chunks) / 2
	for _, c := range chunks[:half] {
		s.produce(ctx, c) // straight to the broker, not through the proxy
	}
	a, b := s.start("a"), s.start("b")
	waitReady(t, a.Addr, "", 60*time.Second)
	waitReady(t, b.Addr, "", 60*time.Second)
	_, err := proxy.Toxics.AddToxicJson(strings.NewReader(
		`{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":4000,"jitter":500}}`))
	if err != nil {
		t.Fatalf("add the latency: %v", err)
	}
	t.Log("Kafka answers 3.5–4.5 s late")
	for i, c := range chunks[half:] {
		s.produce(ctx, c)
		if i%10 == 0 {
			time.Sleep(time.Second)
		}
	}
	time.Sleep(30 * time.Second)
	if err := proxy.Toxics.RemoveToxic(ctx, "slow"); err != nil {
		t.Fatalf("remove the latency: %v", err)
	}
	t.Log("Kafka is fast again")
	s.waitOutput(want)
	time.Sleep(3 * time.Second) // late writes of a slow round, if any, land by now
	s.checkOutput(readAll(t, s.env.Brokers, s.cfg.Output), want)
	// The fault was real: closing rounds ran into their deadline inside
	// the lease, or failed on the slow link before it (on a loaded machine
	// a Kafka read's own timeout can come first). The whole log is read: a
	// slow half minute can log more than a tail holds.
	cut, failed := 0, 0
	for name, p := range map[string]*proc.Service{"a": a, "b": b} {
		for _, line := range strings.Split(p.Tail(math.MaxInt), "\n") {
			cut += strings.Count(line, "reached its deadline inside the closer lease")
			failed += strings.Count(line, "closing windows failed")
			if strings.Contains(line, "closer lease") || strings.Contains(line, "lease was lost") || strings.Contains(line, "do not know of") {
				t.Logf("%s: %s", name, line)
			}
		}
	}
	if cut == 0 && failed == 0 {
		t.Error("no closing round reached its deadline or failed: the slow link did not slow the closer")
	}
	t.Logf("closing rounds cut at their deadline inside the lease: %d; closing rounds failed: %d", cut, failed)
	stop(t, a)
	stop(t, b)
}
