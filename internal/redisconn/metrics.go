package redisconn

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Instrument registers a Redis client's figures on reg, named under
// namespace: <namespace>_redis_command_duration_seconds, a histogram of
// each command's round trip by command name (a pipeline or a transaction
// is one observation, command "pipeline"), failed ones included; and the
// connection pool's statistics, read from the client at each scrape
// (<namespace>_redis_pool_*). It fails only when the names are registered
// on reg already.
func Instrument(rdb redis.UniversalClient, reg prometheus.Registerer, namespace string) error {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "redis_command_duration_seconds",
		Help:    "Round trip of one Redis command (or pipeline, command=\"pipeline\"), failed ones included, by command name.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, // 0.1 ms .. 3.3 s (the read timeout is 3 s)
		[]string{"command"})
	for _, c := range []prometheus.Collector{h, newPoolCollector(rdb, namespace)} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register redis metrics: %w", err)
		}
	}
	rdb.AddHook(latencyHook{h: h, pipeline: h.WithLabelValues("pipeline")})
	return nil
}

// latencyHook times every command and pipeline the client sends.
type latencyHook struct {
	h        *prometheus.HistogramVec
	pipeline prometheus.Observer
}

func (latencyHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l latencyHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		t0 := time.Now()
		err := next(ctx, cmd)
		l.h.WithLabelValues(cmd.Name()).Observe(time.Since(t0).Seconds())
		return err
	}
}

func (l latencyHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		t0 := time.Now()
		err := next(ctx, cmds)
		l.pipeline.Observe(time.Since(t0).Seconds())
		return err
	}
}

// poolCollector reports the client's pool statistics as they are at the
// scrape (go-redis keeps them; a Cluster client sums its nodes' pools).
type poolCollector struct {
	rdb                                   redis.UniversalClient
	conns, hits, misses, timeouts, stales *prometheus.Desc
	waits                                 *prometheus.Desc
}

func newPoolCollector(rdb redis.UniversalClient, ns string) *poolCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "redis_pool", name), help, labels, nil)
	}
	return &poolCollector{
		rdb:      rdb,
		conns:    d("connections", "Connections in the Redis client's pool: state=total, idle.", "state"),
		hits:     d("hits_total", "Commands that found a free connection in the pool."),
		misses:   d("misses_total", "Commands that found no free connection in the pool and dialed one."),
		timeouts: d("timeouts_total", "Commands that waited for a pool connection longer than the pool timeout and failed."),
		stales:   d("stale_connections_total", "Connections removed from the pool as stale."),
		waits:    d("wait_seconds_total", "Time commands spent waiting for a pool connection."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.hits, c.misses, c.timeouts, c.stales, c.waits} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.rdb.PoolStats()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.TotalConns), "total")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.IdleConns), "idle")
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(c.stales, prometheus.CounterValue, float64(s.StaleConns))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.WaitDurationNs)/1e9)
}
