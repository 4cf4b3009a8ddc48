package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/internal/logging"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/api"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/generator"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/producer"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/sink"
)

// New returns the application for a valid cfg: the HTTP server, the Kafka
// sink, the producer loop and the API, started in that order and stopped in
// reverse (so stopping stops generating, then flushes, then closes the HTTP
// server). Seed 0 is replaced by a random seed here. extra options come last
// (tests use fx.Populate).
func New(cfg Config, version string, log *slog.Logger, extra ...fx.Option) *fx.App {
	started := time.Now()
	seed := cfg.Seed
	if seed == 0 {
		seed = generator.RandomSeed()
	}
	opts := []fx.Option{
		logging.FxLogger(log),
		fx.StartTimeout(cfg.startTimeout()),
		fx.StopTimeout(cfg.stopTimeout()),
		fx.Supply(log, cfg.HTTP, cfg.Kafka, producer.Config{Rate: cfg.Rate, Count: uint64(cfg.Count)}),
		fx.Provide(func() (*generator.Generator, error) { return generator.New(cfg.Generator, seed) }),
		fx.Provide(func(p *producer.Producer, s *sink.Kafka, ready *httpserver.Readiness) (*api.Handlers, error) {
			pub, err := cfg.PublicJSON()
			if err != nil {
				return nil, err
			}
			return &api.Handlers{
				Status: func(ctx context.Context) api.Status {
					// The readiness checks look at Kafka (at most once a
					// second, however many ask), so that /status and
					// /readyz agree.
					ready.Check(ctx)
					return status(version, started, pub, p.Status(), s.Stats())
				},
				SetRate: p.SetRate,
				Log:     log,
			}, nil
		}),
		httpserver.Module,
		metrics.Module,
		fx.Invoke(func(reg *prometheus.Registry) error {
			return reg.Register(httpserver.NewBuildInfo("vehicle_producer", version))
		}),
		sink.Module,
		producer.Module,
		api.Module,
	}
	return fx.New(append(opts, extra...)...)
}

// status puts the loop's and the sink's snapshots together for GET /status;
// started is when the process started.
func status(version string, started time.Time, cfg json.RawMessage, p producer.Status, s sink.Stats) api.Status {
	up := time.Since(started)
	st := api.Status{
		Service:       Service,
		Version:       version,
		Started:       started.UTC(),
		Uptime:        up.Round(time.Second).String(),
		UptimeSeconds: up.Seconds(),
		Rate:          p.Rate,
		Count:         p.Count,
		Seed:          p.Seed,
		Generated:     p.Generated,
		Sent:          s.Sent,
		SentBytes:     s.SentBytes,
		SentByType:    map[string]uint64{},
		InFlight:      s.InFlight,
		SendFailures:  s.Failures,
		Kafka:         "ok",
		Complete:      p.Complete,
		Config:        cfg,
	}
	for _, t := range model.VehicleTypes() {
		st.SentByType[t.String()] = s.SentByType[t.Index()]
	}
	switch {
	case !s.FailingSince.IsZero():
		st.Kafka = "failing"
		st.KafkaFailing = &api.Failure{Error: s.LastError.Error(), Since: s.FailingSince.UTC()}
	case !s.UnreachableSince.IsZero():
		st.Kafka = "failing"
		st.KafkaFailing = &api.Failure{Error: s.UnreachableError.Error(), Since: s.UnreachableSince.UTC()}
	}
	if s.LastError != nil {
		st.LastError = &api.ErrorInfo{Message: s.LastError.Error(), Time: s.LastErrorAt.UTC()}
	}

	if p.Err != nil {
		st.LastError = &api.ErrorInfo{Message: p.Err.Error(), Time: time.Now().UTC()}
	}
	return st
}
