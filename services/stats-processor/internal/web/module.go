package web

import (
	"errors"
	"log/slog"

	"github.com/gin-gonic/gin"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

// Module provides the live page's *Stream, registers GET / and
// GET /stats/stream on the HTTP server's *gin.Engine, and polls while the
// application runs. It needs a StatsReader, a func() Totals, a Config, the
// *metrics.Metrics (refused streams are counted) and a *slog.Logger.
var Module = fx.Module("web",
	fx.Provide(func(stats StatsReader, totals func() Totals, cfg Config, m *metrics.Metrics, log *slog.Logger) *Stream {
		opts := cfg.Options()
		opts.Log = log
		opts.Refused = func(err error) {
			limit := "total"
			if errors.Is(err, ErrTooManyFromClient) {
				limit = "client"
			}
			m.LiveStreamsRefused.WithLabelValues(limit).Inc()
		}
		return NewStream(stats, totals, opts)
	}),
	fx.Invoke(func(lc fx.Lifecycle, s *Stream, e *gin.Engine) {
		s.Register(e)
		lc.Append(fx.StartStopHook(s.Start, s.Stop))
	}),
)
