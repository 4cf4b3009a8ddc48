package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
	"github.com/vehicle-stats/vehicle-stats/internal/logging"
	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/api"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/closer"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/consumer"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/web"
)

// New returns the application for a valid cfg: the HTTP server, the Redis
// state, the pipeline, /stats and the live page. On start it waits for Redis
// and Kafka (a bad address fails start-up naming its key), creates the
// topics, then runs the pipeline until stop. extra options come last (tests
// use fx.Populate).
func New(cfg Config, version string, log *slog.Logger, extra ...fx.Option) *fx.App {
	cfg.InstanceID = cfg.instanceID()
	log.Info("starting", "version", version, "instance", cfg.InstanceID, "input_topic", cfg.Kafka.Topics.InputTopic,
		"brokers", cfg.Kafka.Topics.Brokers, "redis", cfg.Redis.Addr, "window", cfg.EventTime.Window.Size.String())
	opts := []fx.Option{
		logging.FxLogger(log),
		fx.StartTimeout(45 * time.Second),
		// A lease holder hands the closer lease over at stop, closing
		// windows meanwhile (closer.HandOver): ~12 s with the defaults.
		fx.StopTimeout(25 * time.Second),
		fx.Supply(log, cfg.HTTP, cfg.Live, cfg.Kafka.Topics, cfg.Kafka.Consumer, cfg.Redis, cfg.State, cfg.EventTime,
			state.NewKeys(cfg.Redis.KeyPrefix, cfg.Kafka.Topics.InputTopic),
			closer.Options{Config: cfg.Checkpoint.Closer, InstanceID: cfg.InstanceID}),
		fx.Provide(func(c *closer.Closer, s *state.RedisStore) consumer.Options {
			return consumer.Options{Checkpoint: cfg.Checkpoint.Consumer, InstanceID: cfg.InstanceID, OnProgress: func(partition int) {
				c.Nudge(partition) // this instance's closer at once; the others through Redis
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if err := s.Wake(ctx, partition); err != nil {
					log.Warn("could not wake the closers; windows close at their next tick (check the Redis user's pub/sub permissions)", "error", err)
				}
			}}
		}),
		httpserver.Module,
		metrics.Module,
		fx.Invoke(func(reg *prometheus.Registry) error {
			return reg.Register(httpserver.NewBuildInfo("stats_processor", version))
		}),
		topics.Module,
		state.Module,
		consumer.Module,
		closer.Module,
		api.Module,
		web.Module,
		// Each user declares what it needs; these say who provides it.
		fx.Provide(
			func(s *state.RedisStore) consumer.Store { return s },
			func(s *state.RedisStore) closer.Store { return s },
			func(s *state.RedisStore) api.StatsReader { return s },
			func(t *topics.Topics) api.PartitionCounter { return t },
			func(h *api.Handler) web.StatsReader { return h },
			web.MetricsTotals,
		),
		fx.Invoke(func(lc fx.Lifecycle, sd fx.Shutdowner, t *topics.Topics, s *state.RedisStore, c *consumer.Consumer, cl *closer.Closer) {
			start(lc, sd, cfg, log, t, s, c, cl)
		}),
	}
	return fx.New(append(opts, extra...)...)
}

// start checks Redis and Kafka at start (waiting up to 30 s for them, so a
// bad address fails start-up with a clear message), creates the topics, then
// runs the consumer and the closer on their own contexts until stop. A fatal
// consumer error shuts the application down with exit code 1. At stop the
// consumer leaves the group at once; the closer, if it holds the lease,
// hands it over first (closing windows until its successor may take over
// without a wait).
func start(lc fx.Lifecycle, sd fx.Shutdowner, cfg Config, log *slog.Logger, t *topics.Topics, store *state.RedisStore, c *consumer.Consumer, cl *closer.Closer) {
	runCtx, cancel := context.WithCancel(context.Background())
	closeCtx, cancelClose := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := waitFor(ctx, log, "redis", cfg.Redis.Addr, "redis.addr", store.Ping); err != nil {
				return err
			}
			keys := "kafka.brokers"
			if sec := cfg.Kafka.Topics.Security(); sec.TLS.Enabled || (sec.SASL.Mechanism != "none" && sec.SASL.Mechanism != "") {
				// kafka-go reports a refused SASL handshake as "broker not available".
				keys = "kafka.brokers, the kafka.sasl.* credentials and kafka.tls.*"
			}
			if err := waitFor(ctx, log, "kafka", fmt.Sprint(cfg.Kafka.Topics.Brokers), keys, t.Prepare); err != nil {
				return err
			}
			// The pipeline's shape: counts saved with one window size
			// cannot be read as another's.
			if err := store.RecordShape(ctx); err != nil {
				return err
			}
			if _, err := store.RecordPartitions(ctx, t.Partitions()); err != nil {
				return err
			}
			// A topic created a moment ago may have no leader yet.
			err := waitFor(ctx, log, "kafka", fmt.Sprint(cfg.Kafka.Topics.Brokers), keys, func(ctx context.Context) error {
				end, err := t.OutputEnd(ctx)
				if err != nil {
					return err
				}
				return store.RecordOutput(ctx, t.Partitions(), end)
			})
			if err != nil {
				return err
			}
			if maxFuture := cfg.EventTime.Watermark.MaxFuture; maxFuture > 0 {
				checkTimestampType(ctx, log, t, maxFuture)
			}
			wg.Go(func() { cl.Run(closeCtx) })
			wg.Go(func() {
				if err := c.Run(runCtx); err != nil {
					log.Error("pipeline stopped", "error", err)
					_ = sd.Shutdown(fx.ExitCode(1))
				}
			})
			return nil
		},
		OnStop: func(ctx context.Context) error {
			cancel()
			cl.HandOver(ctx)
			cancelClose()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return errors.New("pipeline did not stop in time; the next start replays from the last checkpoint")
			}
		},
	})
}

// checkTimestampType warns when watermark.max_future is measured against a
// clock other than the one the topic declares: on a LogAppendTime topic
// kafka-go still reports each record's producer timestamp (it ignores the
// batch's append time), so the bound is then taken from the producer's
// clock. Best effort: a topic whose configuration cannot be read is not
// checked.
func checkTimestampType(ctx context.Context, log *slog.Logger, t *topics.Topics, maxFuture time.Duration) {
	typ, err := t.TimestampType(ctx)
	in := t.Config().InputTopic
	if err != nil {
		log.Debug("could not read the input topic's message.timestamp.type", "topic", in, "error", err)
		return
	}
	if typ == "LogAppendTime" {
		log.Warn("the input topic uses LogAppendTime, but kafka-go reports each record's producer timestamp: "+
			"watermark.max_future is measured against the producers' clocks; set it to 0 if they cannot be trusted",
			"topic", in, "max_future", maxFuture)
	}
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
