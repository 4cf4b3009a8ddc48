package consumer

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
)

// Module provides the *Consumer and adds the "consumer_group",
// "input_offsets" and "side_outputs" checks to /readyz. It needs a Config, Options, the *topics.Topics, the
// eventtime.Config, a Store, the *metrics.Metrics and a *slog.Logger. It
// does not run the consumer (the application starts it once Redis and Kafka
// answer); it closes the side writer on stop.
var Module = fx.Module("consumer",
	fx.Provide(provide),
)

func provide(lc fx.Lifecycle, cfg Config, opts Options, t *topics.Topics, et eventtime.Config, store Store,
	m *metrics.Metrics, log *slog.Logger, ready *httpserver.Readiness) *Consumer {
	c := New(cfg, t, et, store, m, log, opts)
	ready.Add("consumer_group", func(context.Context) error { return c.Ready() })
	ready.Add("input_offsets", func(context.Context) error { return c.OffsetsReady() })
	ready.Add("side_outputs", func(context.Context) error { return c.SideOutputsReady() })
	lc.Append(fx.StopHook(c.Close))
	return c
}
