package producer

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/generator"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/sink"
)

// Module provides the *Producer and runs it: it starts after the sink (the
// topic exists by then) and stops before it, so the sink's flush sees every
// event the loop handed over. When the loop ends on its own (count reached,
// or a fatal error) it shuts the application down, with exit code 0 or 1.
// It needs a Config, a *generator.Generator, the *sink.Kafka, the
// *metrics.Metrics and a *slog.Logger.
var Module = fx.Module("producer",
	fx.Provide(provide),
	fx.Invoke(func(*Producer) {}),
)

func provide(lc fx.Lifecycle, cfg Config, gen *generator.Generator, out *sink.Kafka, m *metrics.Metrics, log *slog.Logger, sd fx.Shutdowner) (*Producer, error) {
	p, err := New(cfg, gen, out, m, log, Options{OnDone: func(err error) {
		code := 0
		if err != nil {
			log.Error("producer loop failed", "error", err)
			code = 1
		}
		_ = sd.Shutdown(fx.ExitCode(code))
	}})
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StartStopHook(p.Start, p.Stop))
	return p, nil
}
