package sink

import (
	"context"
	"errors"
	"log/slog"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/metrics"
)

// Module provides the *Kafka sink. It needs a Config, a *slog.Logger, the
// *metrics.Metrics and the HTTP server's *httpserver.Readiness. On start it
// makes sure the topic exists (waiting up to Config.StartupTimeout); on stop
// it flushes (up to Config.FlushTimeout) and closes. A permanent Kafka error
// shuts the application down with exit code 1.
var Module = fx.Module("sink",
	fx.Provide(provide),
)

func provide(lc fx.Lifecycle, cfg Config, log *slog.Logger, m *metrics.Metrics, ready *httpserver.Readiness, sd fx.Shutdowner) (*Kafka, error) {
	s, err := New(cfg, log, m, Options{OnFatal: func(error) { _ = sd.Shutdown(fx.ExitCode(1)) }})
	if err != nil {
		return nil, err
	}
	ready.Add("kafka", s.Check)
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
			defer cancel()
			_, err := s.EnsureTopic(ctx)
			return err
		},
		OnStop: func(ctx context.Context) error {
			fctx, cancel := context.WithTimeout(ctx, cfg.FlushTimeout)
			defer cancel()
			ferr := s.Flush(fctx)
			return errors.Join(ferr, s.Close(ctx))
		},
	})
	return s, nil
}
