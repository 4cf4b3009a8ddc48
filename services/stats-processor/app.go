package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/api"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/pipeline"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/web"
)

// Options is the whole application as fx options: the same wiring runs in
// main and in tests.
func Options(cfg Config, log *slog.Logger) fx.Option {
	return fx.Options(
		fx.Supply(cfg, log, cfg.HTTP, cfg.Pipeline()),
		fx.StartTimeout(45*time.Second),
		fx.StopTimeout(15*time.Second),
		httpserver.Module,
		fx.Provide(newRedis, newStore, newProcessor, newMetrics),
		fx.Invoke(registerRoutes, runProcessor),
	)
}

func newRedis(lc fx.Lifecycle, cfg Config) (redis.UniversalClient, error) {
	rdb, err := redisconn.New(cfg.Redis.Config)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(rdb.Close))
	return rdb, nil
}

func newStore(rdb redis.UniversalClient, cfg Config) *state.RedisStore {
	return state.NewRedisStore(rdb, state.NewKeys(cfg.Redis.KeyPrefix, cfg.Kafka.InputTopic), cfg.Window.Size)
}

func newMetrics(reg *prometheus.Registry) *pipeline.Metrics { return pipeline.NewMetrics(reg) }

func newProcessor(cfg pipeline.Config, svc Config, store *state.RedisStore, log *slog.Logger, m *pipeline.Metrics) (*pipeline.Processor, error) {
	sec := svc.Kafka.Security()
	dialer, err := sec.Dialer("stats-processor", 10*time.Second)
	if err != nil {
		return nil, err
	}
	transport, err := sec.Transport("stats-processor", 10*time.Second)
	if err != nil {
		return nil, err
	}
	return pipeline.New(cfg, store, log, m, pipeline.Options{Dialer: dialer, Transport: transport}), nil
}

func registerRoutes(lc fx.Lifecycle, e *gin.Engine, store *state.RedisStore, p *pipeline.Processor, m *pipeline.Metrics,
	cfg Config, ready *httpserver.Readiness, log *slog.Logger) {
	stats := api.NewHandler(store, cfg.Window.Size, p.Partitions)
	stats.Register(e)
	live := web.NewStream(stats, web.MetricsTotals(m), web.Options{Log: log})
	live.Register(e)
	lc.Append(fx.StartStopHook(live.Start, live.Stop))
	ready.Add("redis", store.Ping)
	ready.Add("kafka", p.PingKafka)
	ready.Add("consumer_group", func(context.Context) error { return p.Ready() })
}

// runProcessor checks Redis and Kafka at start (waiting up to 30 s for them,
// so a bad address fails start-up with a clear message), creates the topics,
// then runs the pipeline on its own context until stop.
func runProcessor(lc fx.Lifecycle, sd fx.Shutdowner, p *pipeline.Processor, store *state.RedisStore, cfg Config, log *slog.Logger) {
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
			return p.Close()
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
		// A security refusal names its keys and will not go away by waiting.
		if errors.Is(err, kafkasecurity.ErrRefused) || errors.Is(err, redisconn.ErrRefused) {
			return fmt.Errorf("%s at %s refused the connection: %w", name, addr, err)
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
