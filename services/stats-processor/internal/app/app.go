package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/internal/logging"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/api"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/pipeline"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/web"
)

// New returns the application for a valid cfg: the HTTP server, the Redis
// state, the pipeline, /stats and the live page. On start it waits for Redis
// and Kafka (a bad address fails start-up naming its key), creates the
// topics, then runs the pipeline until stop. extra options come last (tests
// use fx.Populate).
func New(cfg Config, version string, log *slog.Logger, extra ...fx.Option) *fx.App {
	cfg.InstanceID = cfg.instanceID()
	log.Info("starting", "version", version, "instance", cfg.InstanceID, "input_topic", cfg.Kafka.InputTopic,
		"brokers", cfg.Kafka.Brokers, "redis", cfg.Redis.Addr, "window", cfg.EventTime.Window.Size.String())
	opts := []fx.Option{
		logging.FxLogger(log),
		fx.Supply(log, cfg.HTTP, cfg.Redis, cfg.EventTime, cfg.Pipeline(),
			state.NewKeys(cfg.Redis.KeyPrefix, cfg.Kafka.InputTopic)),
		fx.StartTimeout(45 * time.Second),
		fx.StopTimeout(15 * time.Second),
		httpserver.Module,
		metrics.Module,
		state.Module,
		pipeline.Module,
		api.Module,
		web.Module,
		fx.Provide(
			func(s *state.RedisStore) api.StatsReader { return s },
			func(p *pipeline.Processor) api.PartitionCounter { return p },
			func(h *api.Handler) web.StatsReader { return h },
			web.MetricsTotals,
		),
		fx.Invoke(func(lc fx.Lifecycle, sd fx.Shutdowner, p *pipeline.Processor, store *state.RedisStore, log *slog.Logger) {
			start(lc, sd, p, store, cfg, log)
		}),
	}
	return fx.New(append(opts, extra...)...)
}

// start checks Redis and Kafka at start (waiting up to 30 s for them, so a
// bad address fails start-up with a clear message), creates the topics, then
// runs the pipeline on its own context until stop. A fatal pipeline error
// shuts the application down with exit code 1.
func start(lc fx.Lifecycle, sd fx.Shutdowner, p *pipeline.Processor, store *state.RedisStore, cfg Config, log *slog.Logger) {
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := waitFor(ctx, log, "redis", cfg.Redis.Addr, "redis.addr", store.Ping); err != nil {
				return err
			}
			keys := "kafka.brokers"
			if sec := cfg.Kafka.Security(); sec.TLS.Enabled || (sec.SASL.Mechanism != "none" && sec.SASL.Mechanism != "") {
				// kafka-go reports a refused SASL handshake as "broker not available".
				keys = "kafka.brokers, the kafka.sasl.* credentials and kafka.tls.*"
			}
			if err := waitFor(ctx, log, "kafka", fmt.Sprint(cfg.Kafka.Brokers), keys, p.Prepare); err != nil {
				return err
			}
			go func() {
				defer close(done)
				if err := p.Run(runCtx); err != nil {
					log.Error("pipeline stopped", "error", err)
					_ = sd.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			cancel()
			select {
			case <-done:
			case <-ctx.Done():
				return errors.New("pipeline did not stop in time; the next start replays from the last checkpoint")
			}
			return nil
		},
	})
}

// waitFor retries check until it passes or ctx (fx's start timeout) ends.
func waitFor(ctx context.Context, log *slog.Logger, name, addr, key string, check func(context.Context) error) error {
	start := time.Now()
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Since(start) > 25*time.Second {
			return fmt.Errorf("%s at %s is not reachable after %s: %w; check %s and that %s is running",
				name, addr, time.Since(start).Round(time.Second), err, key, name)
		}
		log.Warn("waiting for "+name, "addr", addr, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
