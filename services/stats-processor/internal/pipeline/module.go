package pipeline

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// Module provides the *Processor and adds the "kafka" and "consumer_group" checks to /readyz. It
// needs a Config, the *state.RedisStore, the *metrics.Metrics and a
// *slog.Logger. It does not run
// the processor (the application starts it once Redis and Kafka answer); it
// closes the writers on stop.
var Module = fx.Module("pipeline",
	fx.Provide(provide),
)

func provide(lc fx.Lifecycle, cfg Config, store *state.RedisStore, log *slog.Logger, m *metrics.Metrics, ready *httpserver.Readiness) (*Processor, error) {
	sec := cfg.Topics.Security()
	dialer, err := sec.Dialer("stats-processor", 10*time.Second)
	if err != nil {
		return nil, err
	}
	transport, err := sec.Transport("stats-processor", 10*time.Second)
	if err != nil {
		return nil, err
	}
	p := New(cfg, store, log, m, Options{Dialer: dialer, Transport: transport})
	ready.Add("kafka", p.PingKafka)
	ready.Add("consumer_group", func(context.Context) error { return p.Ready() })
	lc.Append(fx.StopHook(p.Close))
	return p, nil
}
