package state

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// Module provides the *RedisStore of one pipeline and adds its "redis"
// check to /readyz. It needs a Config, a RedisConfig, the pipeline's
// Keys, the eventtime.Config, the HTTP server's *httpserver.Readiness, the
// *prometheus.Registry (for the client's latency and pool figures,
// redisconn.Instrument) and a *slog.Logger, which also gets the Redis
// library's own messages. It does not connect at start (the application
// waits for Redis itself, naming the key); it closes the client on stop. A
// TLS file that cannot be read fails start-up.
var Module = fx.Module("state",
	fx.Provide(provide),
)

func provide(lc fx.Lifecycle, cfg Config, rcfg RedisConfig, keys Keys, et eventtime.Config, ready *httpserver.Readiness, reg *prometheus.Registry,
	log *slog.Logger) (*RedisStore, error) {
	redisconn.LogTo(log)
	rdb, err := redisconn.New(rcfg.Config)
	if err != nil {
		return nil, err
	}
	if err := redisconn.Instrument(rdb, reg, "stats_processor"); err != nil {
		rdb.Close()
		return nil, err
	}
	lc.Append(fx.StopHook(rdb.Close))
	s := NewRedisStore(rdb, keys, et.Window.Size, cfg.Retention)
	ready.Add("redis", s.Ping)
	return s, nil
}
