package web

import (
	"log/slog"

	"github.com/gin-gonic/gin"
	"go.uber.org/fx"
)

// Module provides the live page's *Stream, registers GET / and
// GET /stats/stream on the HTTP server's *gin.Engine, and polls while the
// application runs. It needs a StatsReader, a func() Totals and a
// *slog.Logger.
var Module = fx.Module("web",
	fx.Provide(func(stats StatsReader, totals func() Totals, log *slog.Logger) *Stream {
		return NewStream(stats, totals, Options{Log: log})
	}),
	fx.Invoke(func(lc fx.Lifecycle, s *Stream, e *gin.Engine) {
		s.Register(e)
		lc.Append(fx.StartStopHook(s.Start, s.Stop))
	}),
)
