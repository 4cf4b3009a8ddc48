package redisconn_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// Commands and pipelines sent to a real Redis are timed by command, failed
// ones too, and the pool's figures are read at the scrape.
func TestIntegrationInstrument(t *testing.T) {
	env := testenv.Get(t)
	rdb, err := redisconn.New(redisconn.Config{Addr: env.RedisAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	if err := redisconn.Instrument(rdb, reg, "test"); err != nil {
		t.Fatal(err)
	}
	if err := redisconn.Instrument(rdb, reg, "test"); err == nil {
		t.Error("a second registration on the same registry did not fail")
	}
	ctx := context.Background()
	for range 3 {
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_ = rdb.Do(ctx, "nosuchcommand").Err() // refused: still timed
	p := rdb.Pipeline()
	p.Ping(ctx)
	p.Ping(ctx)
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf
	}
	counts := map[string]uint64{}
	for _, m := range got["test_redis_command_duration_seconds"].GetMetric() {
		counts[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
	}
	if counts["ping"] != 3 || counts["nosuchcommand"] != 1 || counts["pipeline"] != 1 {
		t.Errorf("commands timed %v, want ping 3, nosuchcommand 1, pipeline 1", counts)
	}
	var total float64
	for _, m := range got["test_redis_pool_connections"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "total" {
			total = m.GetGauge().GetValue()
		}
	}
	if total < 1 {
		t.Errorf("pool connections total %v, want at least 1", total)
	}
	if hits := got["test_redis_pool_hits_total"].GetMetric()[0].GetCounter().GetValue(); hits < 1 {
		t.Errorf("pool hits %v, want some: the commands after the first reuse its connection", hits)
	}
}
