package app

import (
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
		fx.Provide(func(p *producer.Producer, s *sink.Kafka) (*api.Handlers, error) {
			pub, err := cfg.PublicJSON()
			if err != nil {
				return nil, err
			}
			return &api.Handlers{
				Status:  func() api.Status { return status(version, pub, p.Status(), s.Stats()) },
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

// status puts the loop's and the sink's snapshots together for GET /status.
func status(version string, cfg json.RawMessage, p producer.Status, s sink.Stats) api.Status {
	st := api.Status{
		Service:      Service,
		Version:      version,
		Started:      p.Started,
		Rate:         p.Rate,
		Count:        p.Count,
		Seed:         p.Seed,
		Generated:    p.Generated,
		Sent:         s.Sent,
		SentBytes:    s.SentBytes,
		SentByType:   map[string]uint64{},
		InFlight:     s.InFlight,
		SendFailures: s.Failures,
		Kafka:        "ok",
		Complete:     p.Complete,
		Config:       cfg,
	}
	if !p.Started.IsZero() {
		up := time.Since(p.Started)
		st.Uptime, st.UptimeSeconds = up.Round(time.Second).String(), up.Seconds()
	}
	for _, t := range model.VehicleTypes() {
		st.SentByType[t.String()] = s.SentByType[t.Index()]
	}
	if !s.FailingSince.IsZero() {
		st.Kafka = "failing since " + s.FailingSince.UTC().Format(time.RFC3339)
	}
	if s.LastError != nil {
		st.LastError = &api.ErrorInfo{Message: s.LastError.Error(), Time: s.LastErrorAt.UTC()}
	}
	if p.Err != nil {
		st.LastError = &api.ErrorInfo{Message: p.Err.Error(), Time: time.Now().UTC()}
	}
	return st
}
